// Plain HTTPS requests to a local-mode server with the token and CA of its kubeconfig: what kubectl would send,
// without kubectl's retries (it retries a 503 with Retry-After by itself) or its own checks of the input.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { httpsRequest, type Response } from './http.ts';

export type RawRequest = (path: string, method?: string, body?: unknown, contentType?: string) => Promise<Response>;

export function rawClient(kubeconfigPath: string): RawRequest {
  const config = parse(readFileSync(kubeconfigPath, 'utf8'));
  const ca = Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString();
  const server: string = config.clusters[0].cluster.server;
  return (path, method = 'GET', body, contentType = 'application/json') => {
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    // Node sends a DELETE body without a length unless told: the server would read it as a second request.
    const length: Record<string, string> = text === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(text)) };
    return httpsRequest(`${server}${path}`, ca, {
      method,
      headers: { Authorization: `Bearer ${config.users[0].user.token}`, 'Content-Type': contentType, ...length },
      ...(text === undefined ? {} : { body: text }),
    });
  };
}
