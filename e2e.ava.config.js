// The end-to-end suite (npm run test:e2e): one file at a time, since every file installs the same APIService.
export default {
  files: ['test/e2e/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  concurrency: 1,
  timeout: '5m',
};
