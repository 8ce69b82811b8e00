/**
 * Credential-looking literals and look-alikes that are not, run against the patterns of
 * policies/data.json in JavaScript (test/unit/credentials.test.ts, what masking uses) and through
 * the compiled Rego (test/policies/wasm.test.ts: SECRET_LITERAL). The class (issue 14 §6): a
 * credential written as a literal in env, command or args; its siblings are every common token
 * format, in every container kind; references ($VAR, $(VAR), ${VAR}) and plain text are not.
 * Test tokens are built from parts so no scanner mistakes this file for a leak.
 */
const fake = (prefix: string, n: number, alphabet = 'A1b2C3d4E5'): string => prefix + alphabet.repeat(Math.ceil(n / alphabet.length)).slice(0, n);

export const JWT = `${fake('eyJ', 20)}.${fake('eyJ', 30)}.${fake('', 43)}`;
export const AWS_KEY_ID = fake('AKIA', 16, 'ABCDEFGHIJ2345');
export const GITHUB_TOKEN = fake('ghp_', 36);
export const GITHUB_PAT = fake('github_pat_', 40);
export const SLACK = `xoxb-${fake('', 12, '1234567890')}-${fake('', 24)}`;
export const GOOGLE_KEY = fake('AIza', 35, 'AbCdEfGh12_-');
export const STRIPE_KEY = fake('sk_live_', 24, '9aZ8bY7c');
export const PEM = ['-----BEGIN', 'RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----'].join(' ');

/** Values (env values, command words, args) and the pattern ids they must match; [] = not a credential. */
export const VALUE_CASES: readonly { text: string; ids: readonly string[] }[] = [
  { text: 'postgres://admin:hunter2@db.internal:5432/app', ids: ['url-userinfo-password'] },
  { text: 'https://user:p%40ss@example.com/repo.git', ids: ['url-userinfo-password'] },
  { text: 'git clone https://x-access-token:tok3n@github.com/acme/repo', ids: ['url-userinfo-password'] },
  { text: 'redis://:s3cret@cache:6379', ids: ['url-userinfo-password'] },
  { text: 'Authorization: Bearer abcdef123456', ids: ['authorization-header'] },
  { text: 'authorization:basic dXNlcjpwYXNz', ids: ['authorization-header'] },
  { text: '-H "Authorization: Token abc"', ids: ['authorization-header'] },
  { text: 'Bearer abcdefghijklmnop1234', ids: ['bearer-token'] },
  { text: PEM, ids: ['pem-private-key'] },
  { text: '-----BEGIN PRIVATE KEY-----', ids: ['pem-private-key'] },
  { text: '-----BEGIN OPENSSH PRIVATE KEY-----', ids: ['pem-private-key'] },
  { text: '-----BEGIN ENCRYPTED PRIVATE KEY-----', ids: ['pem-private-key'] },
  { text: AWS_KEY_ID, ids: ['aws-access-key-id'] },
  { text: `--key=${AWS_KEY_ID}`, ids: ['aws-access-key-id'] },
  { text: GITHUB_TOKEN, ids: ['github-token'] },
  { text: GITHUB_PAT, ids: ['github-token'] },
  { text: SLACK, ids: ['slack-token'] },
  { text: JWT, ids: ['jwt'] },
  { text: `token=${JWT}`, ids: ['jwt'] },
  { text: `--key ${GOOGLE_KEY}`, ids: ['google-api-key'] },
  { text: `STRIPE=${STRIPE_KEY}`, ids: ['stripe-secret-key'] },
  // not credentials: references, plain words, URLs without a password, public keys
  { text: 'postgres://postgres@localhost:5432/postgres?sslmode=disable', ids: [] },
  { text: 'https://github.com/acme/repo.git', ids: [] },
  { text: 'https://user:$(PASSWORD)@example.com', ids: [] },
  { text: 'https://user:${PASSWORD}@example.com', ids: [] },
  { text: 'Authorization: Bearer $GITHUB_TOKEN', ids: [] },
  { text: 'Authorization: Bearer ${TOKEN}', ids: [] },
  { text: 'basic information about tokens', ids: [] },
  { text: '-----BEGIN PUBLIC KEY-----', ids: [] },
  { text: 'AKIA-not-a-key', ids: [] },
  { text: 'ghp_short', ids: [] },
  { text: 'sk_test_abcdefghijklmnopqrstuvwx', ids: [] },
  { text: 'AIzaShort', ids: [] },
  { text: 'eyJhbGciOi', ids: [] },
  { text: 'python analyze.py --input /data', ids: [] },
  { text: 'localhost:5432', ids: [] },
];

/** Env variable names: with a literal value, a name in this list is SECRET_LITERAL. */
export const NAME_CASES: readonly { name: string; ids: readonly string[] }[] = [
  { name: 'POSTGRES_PASSWORD', ids: ['password'] },
  { name: 'DB_PASS', ids: ['password'] },
  { name: 'password', ids: ['password'] },
  { name: 'CLIENT_SECRET', ids: ['secret'] },
  { name: 'GITHUB_TOKEN', ids: ['token'] },
  { name: 'ACCESS_TOKEN', ids: ['token'] },
  { name: 'API_KEY', ids: ['api-key'] },
  { name: 'OPENAI_APIKEY', ids: ['api-key'] },
  { name: 'SSH_PRIVATE_KEY', ids: ['private-key'] },
  { name: 'AWS_SECRET_ACCESS_KEY', ids: ['secret', 'access-key'] },
  { name: 'GOOGLE_CREDENTIALS', ids: ['credentials'] },
  { name: 'AWS_REGION', ids: [] },
  { name: 'PASSENGER_COUNT', ids: [] },
  { name: 'TOKENIZER_MODEL', ids: [] },
  { name: 'SECRETARY', ids: [] },
  { name: 'KEY_ID', ids: [] },
  { name: 'MODE', ids: [] },
];
