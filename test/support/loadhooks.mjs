// Module hooks for a child process: every package a module resolves is written to stderr as "resolved <url>",
// so that a test can say which libraries a mode loads.
import process from 'node:process';

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.includes('/node_modules/')) process.stderr.write(`resolved ${resolved.url}\n`);
  return resolved;
}
