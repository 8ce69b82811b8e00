/**
 * Credential-looking literals and look-alikes that are not, run against the patterns of
 * policies/data.json in JavaScript (test/unit/credentials.test.ts, what masking uses) and through
 * the compiled Rego (test/policies/wasm.test.ts: SECRET_LITERAL). The class (issue 14 §6): a
 * credential written as a literal in env, command or args; its siblings are every common token
 * format, in every container kind; references ($VAR, $(VAR), ${VAR}) and plain text are not.
 * Test tokens are built from parts so no scanner mistakes this file for a leak.
 */
const fake = (prefix: string, n: number, alphabet = 'A1b2C3d4E5'): string =>
  prefix + alphabet.repeat(Math.ceil(n / alphabet.length)).slice(0, n);

export const JWT = `${fake('eyJ', 20)}.${fake('eyJ', 30)}.${fake('', 43)}`;
export const AWS_KEY_ID = fake('AKIA', 16, 'ABCDEFGHIJ2345');
export const GITHUB_TOKEN = fake('ghp_', 36);
export const GITHUB_PAT = fake('github_pat_', 40);
export const SLACK = `xoxb-${fake('', 12, '1234567890')}-${fake('', 24)}`;
export const GOOGLE_KEY = fake('AIza', 35, 'AbCdEfGh12_-');
export const STRIPE_KEY = fake('sk_live_', 24, '9aZ8bY7c');
export const GITHUB_OAUTH = fake('gho_', 36);
export const GITHUB_SERVER = fake('ghs_', 36);
export const GITHUB_USER = fake('ghu_', 36);
export const GITLAB_PAT = fake('glpat-', 20);
export const SLACK_HOOK = `https://hooks.slack.com/services/${fake('T', 8)}/${fake('B', 8)}/${fake('', 24)}`;
export const SENTRY_DSN = `https://${fake('', 32, '0123456789abcdef')}@o1.ingest.sentry.io/1`;
export const PEM = ['-----BEGIN', 'RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----'].join(' ');

/** Values (env values, command words, args) and the pattern ids they must match; [] = not a credential. */
export const VALUE_CASES: readonly { text: string; ids: readonly string[] }[] = [
  { text: 'postgres://admin:hunter2@db.internal:5432/app', ids: ['url-userinfo-password'] },
  { text: 'https://user:p%40ss@example.com/repo.git', ids: ['url-userinfo-password'] },
  {
    text: 'git clone https://x-access-token:tok3n@github.com/acme/repo',
    ids: ['url-userinfo-password', 'secret-assignment'],
  },
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
  { text: `token=${JWT}`, ids: ['jwt', 'secret-assignment'] },
  { text: `--key ${GOOGLE_KEY}`, ids: ['google-api-key'] },
  { text: `STRIPE=${STRIPE_KEY}`, ids: ['stripe-secret-key'] },
  // docs/reviews/2026-11-29-red-team.md finding 1: common forms the first list missed (one row each, and their siblings)
  { text: 'https://user:p#ss@example.com/x', ids: ['url-userinfo-password'] },
  { text: 'https://user:p!ss%2F:x@example.com/x', ids: ['url-userinfo-password'] },
  { text: 'PGPASSWORD=hunter2 psql -h db', ids: ['secret-assignment'] },
  { text: '--password=hunter2', ids: ['secret-assignment'] },
  { text: 'export DB_PASS=hunter2', ids: ['secret-assignment'] },
  { text: 'PASSPHRASE=hunter2', ids: ['secret-assignment'] },
  { text: 'ENCRYPTION_KEY=hunter2 ./run', ids: ['secret-assignment'] },
  { text: 'curl -H "X-API-Key: abcdef123"', ids: ['secret-assignment'] },
  { text: 'curl -H "X-Auth-Token: abcdef123"', ids: ['secret-assignment'] },
  { text: '{"client_secret": "hunter2"}', ids: ['secret-assignment'] },
  { text: 'kubectl create secret generic db --from-literal=password=hunter2', ids: ['secret-assignment'] },
  { text: 'mysql --password hunter2', ids: ['secret-flag-value'] },
  { text: 'app --db-pass hunter2', ids: ['secret-flag-value'] },
  { text: 'gpg --passphrase hunter2 -d f', ids: ['secret-flag-value'] },
  { text: 'tool --secret-key hunter2', ids: ['secret-flag-value'] },
  { text: 'mysql -u root -phunter2', ids: ['mysql-password-option'] },
  { text: 'mysqldump -h db -u root -phunter2 app', ids: ['mysql-password-option'] },
  { text: 'sshpass -p hunter2 ssh host', ids: ['sshpass-password'] },
  { text: 'sshpass -phunter2 ssh host', ids: ['sshpass-password'] },
  { text: `mysql -u root -p"hunter2" -e 'select 1'`, ids: ['mysql-password-option'] },
  { text: "sshpass -p 'hunter2' ssh host", ids: ['sshpass-password'] },
  { text: 'curl -u admin:hunter2 https://x', ids: ['curl-user-password'] },
  { text: 'curl -sS --user=admin:hunter2 https://x', ids: ['curl-user-password'] },
  { text: 'curl -H "Cookie: session=abcdef123456" https://x', ids: ['cookie-header'] },
  { text: SLACK_HOOK, ids: ['slack-webhook'] },
  { text: SENTRY_DSN, ids: ['url-key-userinfo'] },
  { text: `git clone https://${GITLAB_PAT}@gitlab.com/x.git`, ids: ['gitlab-token'] },
  { text: GITHUB_OAUTH, ids: ['github-token'] },
  { text: GITHUB_SERVER, ids: ['github-token'] },
  { text: GITHUB_USER, ids: ['github-token'] },
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
  // BENIGN, decided: a path or a reference after a secret name, a prompt, a port, a uid, counts
  { text: '--password-file /run/secrets/db', ids: [] },
  { text: '--password-file=/run/secrets/db', ids: [] },
  { text: 'PASSWORD_FILE=/run/secrets/db', ids: [] },
  { text: '--token=$(cat /run/secrets/t)', ids: [] },
  { text: 'PGPASSWORD=$DB_PASSWORD psql', ids: [] },
  { text: '--password=', ids: [] },
  { text: 'mysql -p mydb', ids: [] },
  { text: 'mysql --password -h db', ids: [] },
  { text: 'nc -l -p 8080', ids: [] },
  { text: 'ssh -p 2222 host', ids: [] },
  { text: 'docker run -u 1000:1000 alpine:3.19', ids: [] },
  { text: 'curl -u "$USER:$PASS" https://x', ids: [] },
  { text: 'curl -u admin https://x', ids: [] },
  { text: 'TOKEN_URL=https://auth.example.com/oauth/token', ids: [] },
  { text: 'app --secret-name db-creds --tokens 3', ids: [] },
  { text: 'echo tokens: 3; grep -r password .', ids: [] },
  { text: 'kubectl get secret db -o yaml', ids: [] },
  { text: 'git clone https://git@github.com/acme/repo', ids: [] },
  { text: 'https://hooks.slack.com/', ids: [] },
  { text: 'password: ***', ids: [] },
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
  // docs/reviews/2026-11-29-red-team.md finding 1: strong words match inside a word (PGPASSWORD), short ones at a boundary
  { name: 'PGPASSWORD', ids: ['password'] },
  { name: 'MYSQLPASSWORD', ids: ['password'] },
  { name: 'MYSQL_PWD', ids: ['password'] },
  { name: 'PASSPHRASE', ids: ['password'] },
  { name: 'GPG_PASSPHRASE', ids: ['password'] },
  { name: 'DB_PASS', ids: ['password'] },
  { name: 'GITHUBTOKEN', ids: ['token'] },
  { name: 'GH_PAT', ids: ['token'] },
  { name: 'CLIENTSECRET', ids: ['secret'] },
  { name: 'SECRET_KEY_BASE', ids: ['secret'] },
  { name: 'ENCRYPTION_KEY', ids: ['signing-key'] },
  { name: 'SIGNING_KEY', ids: ['signing-key'] },
  { name: 'JWT_KEY2', ids: ['signing-key'] },
  { name: 'SESSION_COOKIE', ids: ['cookie'] },
  // decided: a secret-named variable holding a path or URL is still denied (today's behaviour):
  // in a step the value comes from a Secret reference, not a file; rename it or use enforcement
  { name: 'PASSWORD_FILE', ids: ['password'] },
  { name: 'TOKEN_URL', ids: ['token'] },
  // benign: the short words only at a boundary, KEY only qualified
  { name: 'KEYBOARD', ids: [] },
  { name: 'MONKEY', ids: [] },
  { name: 'CACHE_KEY', ids: [] },
  { name: 'SORT_KEY', ids: [] },
  { name: 'PASSWORDLESS_LOGIN', ids: [] },
  { name: 'BYPASS_CACHE', ids: [] },
  { name: 'COMPASS_HEADING', ids: [] },
  { name: 'PATH', ids: [] },
  { name: 'PATCH_LEVEL', ids: [] },
  { name: 'COOKIE_DOMAIN', ids: [] },
];

/**
 * Command lines (a container's command and args): a credential split over words — a secret-named
 * flag and its value (also from the last word of command to the first of args), a tool's password
 * option — is SECRET_LITERAL (the policy checks the joined line) and masked in the audit log
 * (`secret`: what must be gone). No `secret`: benign, allowed and left unmasked.
 */
export const ARGV_CASES: readonly { command?: readonly string[]; args?: readonly string[]; secret?: string }[] = [
  { command: ['mysql', '--password', 'hunter2'], secret: 'hunter2' },
  { command: ['mysql'], args: ['-u', 'root', '-phunter2'], secret: 'hunter2' },
  { command: ['sshpass', '-p', 'hunter2', 'ssh', 'host'], secret: 'hunter2' },
  { command: ['curl', '-u', 'admin:hunter2', 'https://x'], secret: 'hunter2' },
  { command: ['app', '--token'], args: ['hunter2'], secret: 'hunter2' },
  { command: ['app'], args: ['--db-pass', 'hunter2'], secret: 'hunter2' },
  { command: ['gpg'], args: ['--passphrase', 'hunter2', '-d', 'f'], secret: 'hunter2' },
  { args: ['run', '--secret-key', 'hunter2'], secret: 'hunter2' },
  { command: ['sh', '-c', 'PGPASSWORD=hunter2 psql'], secret: 'hunter2' },
  { command: ['sh', '-c', 'mysql -u root -phunter2 -e "select 1"'], secret: 'hunter2' },
  { command: ['nc', '-l', '-p', '8080'] },
  { command: ['mysql', '-p', 'mydb'] },
  { command: ['mysql', '--password', '-h', 'db'] },
  { command: ['app', '--password-file', '/run/secrets/db'] },
  { command: ['docker', 'run', '-u', '1000:1000', 'x'] },
  { command: ['app', '--token', '$(cat /run/secrets/t)'] },
  { command: ['ssh', '-p', '2222', 'host'] },
  { command: ['app'], args: ['--tokens', '3', '--keyboard', 'us'] },
];
