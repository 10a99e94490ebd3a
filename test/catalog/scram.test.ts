import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import test from 'ava';
import { checkVerifiers, RoleVerifiers, scramVerifier, verifyScram } from '../../storage/catalog/scram.ts';

// RFC 7677 section 3: user "user", password "pencil".
const RFC_SALT = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
const PENCIL_VERIFIER =
  'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=';

const VERIFIER_FORMAT = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

function parts(verifier: string): { iterations: number; salt: Buffer; storedKey: Buffer; serverKey: Buffer } {
  const m = VERIFIER_FORMAT.exec(verifier);
  if (!m) throw new Error('not a SCRAM-SHA-256 verifier');
  const [, iterations = '', salt = '', storedKey = '', serverKey = ''] = m;
  return {
    iterations: Number(iterations),
    salt: Buffer.from(salt, 'base64'),
    storedKey: Buffer.from(storedKey, 'base64'),
    serverKey: Buffer.from(serverKey, 'base64'),
  };
}

test('matches the RFC 7677 example as PostgreSQL stores it', async (t) => {
  t.is(await scramVerifier('pencil', { salt: RFC_SALT, iterations: 4096 }), PENCIL_VERIFIER);
});

test('the RFC 7677 verifier authenticates the RFC 7677 exchange', (t) => {
  // What a server does with a stored verifier: check the client's proof
  // against StoredKey and sign with ServerKey; no PBKDF2 involved.
  const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const authMessage = ['n=user,r=rOprNGfwEbeRWgbNEkqO', `r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`, `c=biws,r=${nonce}`].join(',');
  const clientProof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
  const { storedKey, serverKey } = parts(PENCIL_VERIFIER);
  const hmac = (key: Buffer) => createHmac('sha256', key).update(authMessage).digest();

  const clientSignature = hmac(storedKey);
  const clientKey = Buffer.from(clientProof.map((byte, i) => byte ^ (clientSignature[i] ?? 0)));
  t.deepEqual(createHash('sha256').update(clientKey).digest(), storedKey);
  t.is(hmac(serverKey).toString('base64'), '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
});

test('defaults to 4096 iterations and a 16-byte random salt', async (t) => {
  const verifier = await scramVerifier('pencil');
  const { iterations, salt, storedKey, serverKey } = parts(verifier);
  t.is(iterations, 4096);
  t.is(salt.length, 16);
  t.is(storedKey.length, 32);
  t.is(serverKey.length, 32);
  t.true(verifyScram('pencil', verifier));
});

test('different salts give different verifiers for the same password', async (t) => {
  const a = await scramVerifier('pencil');
  const b = await scramVerifier('pencil');
  t.not(a, b);
  t.not(parts(a).storedKey.toString('base64'), parts(b).storedKey.toString('base64'));
  t.true(verifyScram('pencil', a));
  t.true(verifyScram('pencil', b));
});

/** A verifier made here, unknown to scram.ts, with `iterations` rounds (a slow one to hash). */
function verifierOf(password: string, iterations: number): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

test('checkVerifiers hashes off the main thread: the event loop turns meanwhile, and the right password is then known', async (t) => {
  const verifier = verifierOf('a slow one', 500_000);
  let turns = 0;
  let checking = true;
  const spinning = (async () => {
    for (; checking; turns++) await new Promise((resolve) => setImmediate(resolve));
  })();
  await checkVerifiers([
    ['a slow one', verifier],
    ['a wrong one', verifier],
    ['any', 'md5 or anything else'],
  ]);
  checking = false;
  await spinning;
  t.true(turns > 10, `the event loop turned ${turns} times while two passwords were hashed`);
  t.true(verifyScram('a slow one', verifier));
  t.false(verifyScram('a wrong one', verifier), 'a wrong password is never remembered as right');
});

test('RoleVerifiers makes one verifier per role and password: a write sets the one it made early, another role or password gets its own salt', async (t) => {
  const verifiers = new RoleVerifiers(2);
  const first = await verifiers.verifierOf('app', 'secret');
  t.true(verifyScram('secret', first));
  t.is(await verifiers.verifierOf('app', 'secret'), first);
  const other = await verifiers.verifierOf('other', 'secret');
  t.not(parts(other).salt.toString('base64'), parts(first).salt.toString('base64'));
  const rotated = await verifiers.verifierOf('app', 'rotated');
  t.true(verifyScram('rotated', rotated));
  t.false(verifyScram('secret', rotated));
  // Bounded: a third role pushes out the oldest one, whose next verifier is new.
  await verifiers.verifierOf('third', 'secret');
  t.not(await verifiers.verifierOf('other', 'secret'), other);
});

test('honours an explicit iteration count', async (t) => {
  const verifier = await scramVerifier('pencil', { iterations: 1000 });
  t.is(parts(verifier).iterations, 1000);
  t.true(verifyScram('pencil', verifier));
});

/** Test titles stay ASCII: non-ASCII and control characters as \u{...}. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7E]/gu, (c) => `\\u{${c.codePointAt(0)?.toString(16).toUpperCase()}}`);
}

const passwordChecks: Array<[title: string, stored: string, attempt: string, expected: boolean]> = [
  ['right password', 'pencil', 'pencil', true],
  ['wrong password', 'pencil', 'pen', false],
  ['case matters', 'pencil', 'Pencil', false],
  ['ASCII is not normalized', 'a  b', 'a b', false],
  ['non-ASCII space maps to a space', 'pass\u00A0word', 'pass word', true],
  ['ideographic space maps to a space', 'pass\u3000word', 'pass word', true],
  ['soft hyphen maps to nothing', 'pass\u00ADword', 'password', true],
  ['zero-width joiner maps to nothing', 'pass\u200Dword\u00E9', 'password\u00E9', true],
  ['NFKC: fullwidth letters', '\uFF50\uFF41\uFF53\uFF53', 'pass', true],
  ['NFKC: decomposed accent', 'cafe\u0301', 'caf\u00E9', true],
  ['NFKC: ligature', '\uFB01sh', 'fish', true],
  ['prohibited character: raw bytes, no mapping', 'x\u0007\u00A0', 'x\u0007 ', false],
  ['private use character: raw bytes, no mapping', 'x\uE000\u00A0', 'x\uE000 ', false],
  ['empty after mapping: raw bytes', '\u00AD', '', false],
  ['mixed right-to-left and left-to-right: raw bytes', '\uFE8Dabc\u00A0', '\u0627abc ', false],
  ['right-to-left only: normalized', '\uFE8D\u00A0\uFE8E', '\u0627 \u0627', true],
];

for (const [title, stored, attempt, expected] of passwordChecks) {
  test(`verifyScram: ${title}`, async (t) => {
    const verifier = await scramVerifier(stored, { iterations: 64 });
    t.is(verifyScram(attempt, verifier), expected);
    t.true(verifyScram(stored, verifier));
  });
}

// Stored by PostgreSQL 16 for CREATE ROLE ... PASSWORD '<password>'.
const postgresVerifiers: Array<[password: string, verifier: string, alsoAccepts?: string]> = [
  [
    'pencil',
    'SCRAM-SHA-256$4096:mMkbi1mfTb1tBiYPOW+wRg==$gk9id+XTDjefdfdG6ad7DkIgaSPAY5VKUNPz20Z8yn8=:I5Rdjf9zUJugBcyTEHbJRy0lDPX6tQi/OssY7ubcRGs=',
  ],
  [
    'a\u00A0b',
    'SCRAM-SHA-256$4096:dgvHxYQK8LRnrumT3TbfOA==$O6Oxo106yEEeCYWli63qpqGjex/u9UuJJfZ+3VvEo7s=:ccKDJCpHY3g1Ai1J7dHmT7fLj/H+jj/V8Uotna4k52w=',
    'a b',
  ],
  [
    '\uFF50\uFF41\uFF53\uFF53',
    'SCRAM-SHA-256$4096:eUhaAkwZdQz281By7h6Lzw==$wyFEfXNec2Mk5MegUsmtxr9QYiDSP+fXQJZwhV78uJU=:zLBV1dqQpISr/s9IZqrnjlR0ix2xfyZockPo9CwOGTo=',
    'pass',
  ],
  [
    'x\u0007\u00A0',
    'SCRAM-SHA-256$4096:4JsIFIfKh1OFhd+eN3l9fg==$9cFZYTEwn9Y7a2z7e69sauoq/fNXk/3jRUhIZyQyA1Y=:HLjIxOE4VDiRt80cBa4tUxGvGwuCRsCphvoonCWEo2g=',
  ],
  [
    '\uFE8Dabc\u00A0',
    'SCRAM-SHA-256$4096:qhyuNrAzc86rqxL93CSUQA==$bmR3QGNNVaX4dvovK34idco08P7LvIbCxJoeI9uI5MU=:NxDnbYbpb9UP3brBn5qVyk/i8injyJhkr6VKmsCEVvU=',
  ],
];

for (const [password, verifier, alsoAccepts] of postgresVerifiers) {
  test(`same verifier as PostgreSQL for '${printable(password)}'`, async (t) => {
    const { salt, iterations } = parts(verifier);
    t.is(await scramVerifier(password, { salt, iterations }), verifier);
    t.true(verifyScram(password, verifier));
    if (alsoAccepts !== undefined) t.true(verifyScram(alsoAccepts, verifier));
  });
}

const notScram: Array<[title: string, verifier: string]> = [
  ['md5 hash', 'md57474753e4b2f9e23953d5977773aabb0'],
  ['empty string', ''],
  ['garbage', 'not a verifier'],
  ['plaintext password', 'pencil'],
  ['other mechanism', PENCIL_VERIFIER.replace('SCRAM-SHA-256', 'SCRAM-SHA-1')],
  ['missing ServerKey', PENCIL_VERIFIER.slice(0, PENCIL_VERIFIER.lastIndexOf(':'))],
  ['short StoredKey', 'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU='],
  ['zero iterations', PENCIL_VERIFIER.replace('$4096:', '$0:')],
  ['iteration count out of range', PENCIL_VERIFIER.replace('$4096:', '$99999999999:')],
  ['trailing data', `${PENCIL_VERIFIER}\n`],
];

for (const [title, verifier] of notScram) {
  test(`verifyScram returns false for ${title}`, (t) => {
    t.false(verifyScram('pencil', verifier));
  });
}

test('rejects bad options without revealing the password', async (t) => {
  const password = 'hunter2-secret';
  for (const options of [{ iterations: 0 }, { iterations: 1.5 }, { iterations: 2 ** 31 }, { salt: Buffer.alloc(0) }]) {
    const error = await t.throwsAsync(scramVerifier(password, options), { instanceOf: RangeError });
    t.false(error?.message.includes(password));
  }
});
