// The compiled entry point as the image runs it: the Dockerfile's ENTRYPOINT is the one place its Node options are
// written; the benchmarks and the end-to-end suite start the server with the same, and `npm start` must match.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The arguments of `node` in the Dockerfile's ENTRYPOINT (exec form). */
export function imageEntrypoint(): string[] {
  const dockerfile = readFileSync(resolve(import.meta.dirname, '../../Dockerfile'), 'utf8');
  const line = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile);
  if (!line) throw new Error('the Dockerfile has no ENTRYPOINT in exec form');
  const [command, ...args] = JSON.parse(line[1]!) as string[];
  if (command !== 'node') throw new Error(`the image's ENTRYPOINT runs ${command}, not node`);
  return args;
}
