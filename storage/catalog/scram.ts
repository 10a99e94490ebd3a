// SCRAM-SHA-256 password verifiers in the exact form PostgreSQL stores in
// pg_authid.rolpassword (RFC 5802 / RFC 7677), so a role's password can be
// set or checked without sending the plaintext to the server.
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

const DEFAULT_ITERATIONS = 4096; // PostgreSQL's default scram_iterations
const DEFAULT_SALT_BYTES = 16; // PostgreSQL's SCRAM_DEFAULT_SALT_LEN
const KEY_BYTES = 32; // SHA-256 output size
const MAX_ITERATIONS = 2 ** 31 - 1; // scram_iterations is a C int

const BASE64 = '[A-Za-z0-9+/]+={0,2}';
const VERIFIER = new RegExp(`^SCRAM-SHA-256\\$([1-9][0-9]{0,9}):(${BASE64})\\$(${BASE64}):(${BASE64})$`);

// SASLprep tables (RFC 3454), as used by PostgreSQL's src/common/saslprep.c.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu; // C.1.2
// B.1; the combining marks are a class of their own so none reads as attached to its neighbour.
const MAPPED_TO_NOTHING = /[\u00AD\u1806\u200B-\u200D\u2060\uFEFF]|[\u034F\u180B-\u180D\uFE00-\uFE0F]/gu;
// C.2-C.9 and unassigned code points (A.1), approximated with Unicode properties:
// A.1 lists Unicode 3.2 gaps, so characters assigned since (emoji, say) are
// prohibited by PostgreSQL but not here.
const PROHIBITED = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}\p{Zl}\p{Zp}\u0340\u0341\u2FF0-\u2FFB\uFFFC\uFFFD]/u;
// D.1: characters with bidirectional category R or AL.
const RAND_AL =
  /[\u05BE\u05C0\u05C3\u05D0-\u05EA\u05F0-\u05F4\u061B\u061F\u0621-\u063A\u0640-\u064A\u066D-\u066F\u0671-\u06D5\u06DD\u06E5\u06E6\u06FA-\u06FE\u0700-\u070D\u0710\u0712-\u072C\u0780-\u07A5\u07B1\u200F\uFB1D\uFB1F-\uFB28\uFB2A-\uFB36\uFB38-\uFB3C\uFB3E\uFB40\uFB41\uFB43\uFB44\uFB46-\uFBB1\uFBD3-\uFD3D\uFD50-\uFD8F\uFD92-\uFDC7\uFDF0-\uFDFC\uFE70-\uFE74\uFE76-\uFEFC]/u;
// D.2 (bidirectional category L), approximated: alphabetic, not a combining mark.
const ALPHABETIC = /^(?=\p{Alphabetic})\P{Mn}$/u;

export interface ScramOptions {
  salt?: Buffer;
  iterations?: number;
}

/** Builds `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` for a password, hashing off the main thread. */
export async function scramVerifier(password: string, options: ScramOptions = {}): Promise<string> {
  const salt = options.salt ?? randomBytes(DEFAULT_SALT_BYTES);
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new RangeError(`SCRAM iteration count must be an integer from 1 to ${MAX_ITERATIONS}`);
  }
  if (salt.length === 0) throw new RangeError('SCRAM salt must not be empty');
  const { storedKey, serverKey } = keysOf(await pbkdf2Async(saslprep(password), salt, iterations, KEY_BYTES, 'sha256'));
  const verifier = `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
  remember(verifier, password, true);
  return verifier;
}

/**
 * The verifier made for each role's password, on one server: a write has it made before its transaction starts
 * (off the main thread), its SQL sets that one, and its answer knows what the catalog then holds without reading
 * it again. Bounded; the oldest role goes first.
 */
export class RoleVerifiers {
  private readonly made = new Map<string, { password: string; verifier: Promise<string> }>();

  constructor(private readonly max = 10_000) {}

  verifierOf(role: string, password: string): Promise<string> {
    const found = this.made.get(role);
    if (found?.password === password) return found.verifier;
    const verifier = scramVerifier(password);
    if (this.made.size >= this.max) this.made.delete(this.made.keys().next().value!);
    this.made.set(role, { password, verifier });
    verifier.catch(() => {
      if (this.made.get(role)?.verifier === verifier) this.made.delete(role);
    });
    return verifier;
  }
}

// What a verifier was found to say of a password (made or checked here), whether it matches or not: a resync
// and a list check every role's password, and each check costs a full PBKDF2. Bounded; the oldest entry goes first.
const checked = new Map<string, { password: string; matches: boolean }>();
const maxChecked = 10_000;

/** Whether the password matches the verifier, when that was found before. */
function known(password: string, verifier: string): boolean | undefined {
  const found = checked.get(verifier);
  return found?.password === password ? found.matches : undefined;
}

interface ParsedVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

function parseVerifier(verifier: string): ParsedVerifier | undefined {
  const match = VERIFIER.exec(verifier);
  if (!match) return undefined;
  const [, iterationsText = '', saltText = '', storedText = '', serverText = ''] = match;
  const parsed = {
    iterations: Number(iterationsText),
    salt: Buffer.from(saltText, 'base64'),
    storedKey: Buffer.from(storedText, 'base64'),
    serverKey: Buffer.from(serverText, 'base64'),
  };
  const valid = parsed.iterations <= MAX_ITERATIONS && parsed.storedKey.length === KEY_BYTES && parsed.serverKey.length === KEY_BYTES;
  return valid ? parsed : undefined;
}

/**
 * Whether the salted password gives the verifier's keys (both compared, without short-circuiting, in constant
 * time); remembered either way.
 */
function matches(password: string, verifier: string, expected: ParsedVerifier, saltedPassword: Buffer): boolean {
  const actual = keysOf(saltedPassword);
  const storedOk = timingSafeEqual(actual.storedKey, expected.storedKey);
  const serverOk = timingSafeEqual(actual.serverKey, expected.serverKey);
  remember(verifier, password, storedOk && serverOk);
  return storedOk && serverOk;
}

/** True when the password matches a SCRAM-SHA-256 verifier; false for anything else. */
export function verifyScram(password: string, verifier: string): boolean {
  const found = known(password, verifier);
  if (found !== undefined) return found;
  const parsed = parseVerifier(verifier);
  if (!parsed) return false;
  return matches(password, verifier, parsed, pbkdf2Sync(saslprep(password), parsed.salt, parsed.iterations, KEY_BYTES, 'sha256'));
}

/**
 * Checks the pairs not known yet off the main thread (libuv's pool), so that verifyScram answers them from
 * memory, matching or not: the first list of 1,000 roles after a start would otherwise run 1,000 PBKDF2s of 4,096 rounds on the
 * event loop, some 0.7 s in which the server answers nothing.
 */
export async function checkVerifiers(pairs: Iterable<readonly [password: string, verifier: string]>): Promise<void> {
  const checks = [...pairs].map(async ([password, verifier]) => {
    if (known(password, verifier) !== undefined) return;
    const parsed = parseVerifier(verifier);
    if (!parsed) return;
    // One that cannot be hashed here is left to verifyScram.
    const salted = await pbkdf2Async(saslprep(password), parsed.salt, parsed.iterations, KEY_BYTES, 'sha256').catch(() => undefined);
    if (salted) matches(password, verifier, parsed, salted);
  });
  await Promise.all(checks);
}

function remember(verifier: string, password: string, matches: boolean): void {
  if (checked.size >= maxChecked) checked.delete(checked.keys().next().value!);
  checked.set(verifier, { password, matches });
}

function keysOf(saltedPassword: Buffer): { storedKey: Buffer; serverKey: Buffer } {
  const clientKey = hmac(saltedPassword, 'Client Key');
  return {
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: hmac(saltedPassword, 'Server Key'),
  };
}

function hmac(key: Buffer, message: string): Buffer {
  return createHmac('sha256', key).update(message).digest();
}

/**
 * The password bytes PostgreSQL hashes (pg_saslprep): ASCII is used as is;
 * otherwise SASLprep (RFC 4013), falling back to the raw UTF-8 bytes when the
 * password is not valid SASLprep input, as PostgreSQL does.
 */
function saslprep(password: string): Buffer {
  const raw = Buffer.from(password, 'utf8');
  if (/^\p{ASCII}*$/u.test(password)) return raw;
  const mapped = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '');
  // PostgreSQL runs the prohibition and bidi checks on the mapped, not yet
  // normalized, characters; do the same so both choose the same bytes.
  if (mapped === '' || PROHIBITED.test(mapped) || violatesBidiRule(mapped)) return raw;
  return Buffer.from(mapped.normalize('NFKC'), 'utf8');
}

/** RFC 3454 section 6: right-to-left text must not mix in left-to-right characters and must start and end right-to-left. */
function violatesBidiRule(text: string): boolean {
  if (!RAND_AL.test(text)) return false;
  const chars = [...text];
  const isLeftToRight = (c: string) => ALPHABETIC.test(c) && !RAND_AL.test(c);
  return chars.some(isLeftToRight) || !RAND_AL.test(chars[0] ?? '') || !RAND_AL.test(chars[chars.length - 1] ?? '');
}
