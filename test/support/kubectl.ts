// The real kubectl against a server, through a kubeconfig. A missing kubectl fails the test (ENOENT).
import { execFile } from 'node:child_process';

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs kubectl; resolves with its output and exit code whatever the code (tests assert on them). */
export function kubectl(
  kubeconfig: string,
  args: string[],
  input?: string,
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'kubectl',
      ['--kubeconfig', kubeconfig, ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({ stdout, stderr, code: typeof error?.code === 'number' ? error.code : 0 });
      },
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}
