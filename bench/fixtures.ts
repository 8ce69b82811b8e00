/**
 * The realistic step every benchmark uses: a migration with a sidecar, an init container, secrets,
 * egress and a volume (the seed's SDK examples combined), allowed by the shipped policies.
 */
const R = { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } };
const SIDE = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '512Mi' } };

export function benchWorkflow(id = 'bench', runId = 'r'): { id: string } & Record<string, unknown> {
  return {
    id,
    name: 'bench',
    runId,
    volumes: [{ name: 'data', size: '5Gi' }],
    steps: [
      {
        name: 'migrate',
        image: 'migrate/migrate:v4.17.0',
        command: ['migrate', 'up'],
        resources: R,
        timeout: '10m',
        env: { MODE: 'up', AWS_KEY: { secretRef: { secret: 'aws-credentials', key: 'id' } } },
        // Every container bounded, the password by Secret reference (issue 14 §3, §6: a literal is SECRET_LITERAL).
        sidecars: [
          {
            name: 'postgres',
            image: 'postgres:15',
            resources: SIDE,
            env: { POSTGRES_PASSWORD: { secretRef: { secret: 'postgres-credentials', key: 'password' } } },
          },
        ],
        initContainers: [
          { name: 'fetch', image: 'amazon/aws-cli:2.17.0', command: ['aws', 's3', 'sync'], resources: SIDE },
        ],
        egress: [
          { host: 'api.github.com', ports: [443] },
          { host: 's3.amazonaws.com', ports: [443] },
        ],
        volumes: [{ name: 'data', mount: '/data', volume: 'data' }],
      },
    ],
  };
}
