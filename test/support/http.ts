// A small HTTPS client for tests: trusts the given CA only, returns status, headers and the parsed body.
import { request, type Server } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { createApp, listen, type AppOptions } from '../../apiserver/app.ts';
import { createServingCertificate, type ServingCertificate } from '../../apiserver/tls.ts';

export const certificateNames = ['localhost', '127.0.0.1', 'postgres-apiserver.postgres-apiserver.svc'];

/** The app on a free loopback port over TLS, with a fresh CA; `close` stops it. */
export async function serveApp(
  options: Omit<AppOptions, 'log'>,
): Promise<{ tls: ServingCertificate; base: string; server: Server; close: () => Promise<unknown> }> {
  const tls = await createServingCertificate(certificateNames);
  const server = await listen(createApp({ log: pino({ level: 'silent' }), ...options }), tls, 0);
  const base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { tls, base, server, close: () => new Promise((resolve) => server.close(resolve)) };
}

export interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  servername?: string;
}

export function httpsRequest(url: string, ca: string, options: RequestOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, ca, servername: options.servername }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}
