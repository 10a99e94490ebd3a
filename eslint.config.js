import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Dependencies run one way (README, Layout): main.ts and modes/ → apiserver/ → reconcile/ (the loops → the kinds)
 * → storage/ → openapi/ → lib/. Each folder may import only the folders after it.
 */
function onlyBelow(files, above, message) {
  const upward = `^(\\.\\./)+(${above.join('|')})/`;
  return {
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: upward, message },
            { regex: '^(\\.\\./)+main\\.ts$', message },
          ],
        },
      ],
    },
  };
}

const loopsOfReconcile = {
  regex: '^(\\.\\./)+reconcile/[a-z-]+\\.ts$',
  message: 'the loops are built by the composition root (modes/), not by the HTTP layer',
};

export default tseslint.config(
  { ignores: ['node_modules/', '.cache/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Type-aware rules: a promise nobody awaits or handles, or one passed where a plain function is expected.
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      eqeqeq: ['error', 'always'],
      'no-console': 'error',
    },
  },
  {
    files: ['bench/**', 'test/**', 'main.ts', 'apiservice/certificate.ts'],
    rules: { 'no-console': 'off' },
  },
  onlyBelow(
    ['lib/**'],
    ['apiserver', 'apiservice', 'bench', 'modes', 'openapi', 'reconcile', 'storage', 'test'],
    'lib/ imports nothing of the project',
  ),
  onlyBelow(
    ['openapi/**'],
    ['apiserver', 'apiservice', 'bench', 'modes', 'reconcile', 'storage', 'test'],
    'openapi/ (the schemas and the shared vocabulary) imports only lib/',
  ),
  onlyBelow(['storage/**'], ['apiserver', 'apiservice', 'bench', 'modes', 'reconcile', 'test'], 'storage/ imports only openapi/ and lib/'),
  onlyBelow(['reconcile/**'], ['apiserver', 'apiservice', 'bench', 'modes', 'test'], 'reconcile/ imports only storage/, openapi/ and lib/'),
  {
    files: ['reconcile/kinds/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^(\\.\\./)+(apiserver|apiservice|bench|modes|test)/', message: 'the kinds import only storage/, openapi/ and lib/' },
            { regex: '^\\.\\./[a-z-]+\\.ts$', message: 'the kinds know nothing of the loops that call them' },
            { regex: '^(\\.\\./)+main\\.ts$', message: 'the kinds import only storage/, openapi/ and lib/' },
          ],
        },
      ],
    },
  },
  {
    files: ['apiserver/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(apiservice|bench|modes|test)/',
              message: 'apiserver/ imports the kinds and what is below them, never the composition root',
            },
            { regex: '^(\\.\\./)+main\\.ts$', message: 'apiserver/ never imports the composition root' },
            loopsOfReconcile,
          ],
        },
      ],
    },
  },
);
