// Plain HTTPS requests to a local-mode server with the token and CA of its kubeconfig: what kubectl would send,
// without kubectl's retries (it retries a 503 with Retry-After by itself) or its own checks of the input.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { parse } from 'yaml';
import { httpsRequest, type Response } from './http.ts';

export type RawRequest = (
  path: string,
  method?: string,
  body?: unknown,
  contentType?: string,
  headers?: Record<string, string>,
) => Promise<Response>;

interface Endpoint {
  server: string;
  ca: string;
  token: string;
}

function endpointOf(kubeconfigPath: string): Endpoint {
  const config = parse(readFileSync(kubeconfigPath, 'utf8'));
  return {
    ca: Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString(),
    server: config.clusters[0].cluster.server,
    token: config.users[0].user.token,
  };
}

export function rawClient(kubeconfigPath: string): RawRequest {
  const { server, ca, token } = endpointOf(kubeconfigPath);
  return (path, method = 'GET', body, contentType = 'application/json', headers = {}) => {
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    // Node sends a DELETE body without a length unless told: the server would read it as a second request.
    const length: Record<string, string> = text === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(text)) };
    return httpsRequest(`${server}${path}`, ca, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': contentType, ...length, ...headers },
      ...(text === undefined ? {} : { body: text }),
    });
  };
}

export interface WatchEvent {
  type: string;
  object: Record<string, unknown>;
}

export interface RawWatch {
  /** The events received so far, in order. */
  events: WatchEvent[];
  /** The response's Content-Type, once its headers came. */
  contentType: Promise<string>;
  /** Resolves with the events once `done` holds for them; rejects when `ms` pass first or the watch ends. */
  until(done: (events: WatchEvent[]) => boolean, ms?: number): Promise<WatchEvent[]>;
  stop(): void;
}

/** A raw watch (`path` names watch=1) with the given headers, read event by event as the server sends them. */
export function rawWatch(kubeconfigPath: string, path: string, headers: Record<string, string> = {}): RawWatch {
  const { server, ca, token } = endpointOf(kubeconfigPath);
  const events: WatchEvent[] = [];
  const waiters = new Set<() => void>();
  let ended: Error | undefined;
  let resolveType: (type: string) => void;
  const contentType = new Promise<string>((r) => (resolveType = r));
  const finish = (error: Error) => {
    ended ??= error;
    for (const waiter of waiters) waiter();
  };
  const req = request(`${server}${path}`, { ca, headers: { Authorization: `Bearer ${token}`, ...headers } }, (res) => {
    resolveType(String(res.headers['content-type'] ?? ''));
    let buffer = '';
    res.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        events.push(JSON.parse(buffer.slice(0, newline)) as WatchEvent);
        buffer = buffer.slice(newline + 1);
      }
      for (const waiter of waiters) waiter();
    });
    res.on('end', () => finish(new Error(`the watch ended (HTTP ${res.statusCode}) after ${events.length} events`)));
  });
  req.on('error', (error) => finish(error));
  req.end();
  return {
    events,
    contentType,
    until: (done, ms = 10_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (done(events)) settle(() => resolve(events));
          else if (ended) settle(() => reject(new Error(`${ended!.message}: ${JSON.stringify(events)}`)));
        };
        const timer = setTimeout(() => settle(() => reject(new Error(`not within ${ms} ms; received: ${JSON.stringify(events)}`))), ms);
        const settle = (then: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          then();
        };
        waiters.add(check);
        check();
      }),
    stop: () => req.destroy(),
  };
}
