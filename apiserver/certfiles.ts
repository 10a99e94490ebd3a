// The serving certificate's files, followed: cert-manager (or the certificate command run again) renews them
// in place — in a mounted Secret, by swapping a symlink in their folder — and new connections get the new
// certificate without a restart. A pair that does not parse, or whose key does not match, is not taken.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../lib/log.ts';
import type { ServingCertificate } from './tls.ts';

export interface CertificateFiles {
  cert: string;
  key: string;
}

export type Certificate = Pick<ServingCertificate, 'cert' | 'key'>;

const settleMs = 200;

/** The pair in the files, when it is whole: the certificate parses and its key is the one given. */
export function readCertificate(files: CertificateFiles): Certificate | undefined {
  try {
    const cert = readFileSync(files.cert, 'utf8');
    const key = readFileSync(files.key, 'utf8');
    return new X509Certificate(cert).checkPrivateKey(createPrivateKey(key)) ? { cert, key } : undefined;
  } catch {
    return undefined; // mid-write, or removed for a moment
  }
}

/** Calls `renewed` with each new whole pair the files hold, until stopped. */
export function followCertificate(
  files: CertificateFiles,
  current: Certificate,
  renewed: (certificate: Certificate) => void,
  log: Logger,
): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const next = readCertificate(files);
    if (!next || (next.cert === current.cert && next.key === current.key)) return;
    current = next;
    log.info({ file: files.cert }, 'the serving certificate was renewed: new connections get it');
    renewed(next);
  };
  const watchers: FSWatcher[] = [...new Set([dirname(files.cert), dirname(files.key)])].map((dir) =>
    watch(dir, () => {
      clearTimeout(timer);
      timer = setTimeout(check, settleMs);
    }),
  );
  return {
    stop: () => {
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
