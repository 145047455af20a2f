/**
 * The two compose files, as `docker-compose config` (Debian's docker-compose 1.29, which CI installs) resolves
 * them: no container engine runs here, so this is how far they are checked. The production file must refuse to
 * resolve without its required secrets and upstream, and, with them, describe the topology README
 * "Production topology" promises.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
// the `yaml` package comes with @hono/zod-openapi (through openapi3-ts); docker-compose 1.29 prints only YAML
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEV_FILE = 'docker-compose.yml';
const PROD_FILE = 'docker-compose.prod.yml';
const REQUIRED = {
  API_KEY: 'ci-placeholder-key',
  POSTGRES_PASSWORD: 'ci',
  STORY_API_BASE_URL: 'https://stories.example.com',
};

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

// an empty env file, so that a `.env` left in the checkout cannot supply what the test leaves out
let emptyEnvFile: string;
beforeAll(async () => {
  emptyEnvFile = join(await mkdtemp(join(tmpdir(), 'compose-')), 'empty.env');
  await writeFile(emptyEnvFile, '');
});

/** `docker-compose -f <file> config` with only the given variables (nothing leaks in from this shell). */
function composeConfig(file: string, vars: Record<string, string>): Promise<Outcome> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...vars };
  return new Promise((resolve, reject) => {
    execFile('docker-compose', ['--env-file', emptyEnvFile, '-f', file, 'config'], { cwd: ROOT, env }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
        reject(new Error("docker-compose is not installed: install Debian's docker-compose (apt-get install -y docker-compose; .ci/run does)"));
        return;
      }
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test?: string[] | string };
  /** As docker-compose 1.29 prints them: `host_ip:published:target/protocol`, or an object when no host_ip is set. */
  ports?: Array<string | { published?: number; target?: number }>;
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
}
interface Resolved {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

async function resolved(file: string, vars: Record<string, string>): Promise<Resolved> {
  const outcome = await composeConfig(file, vars);
  expect(outcome.stderr).toBe('');
  expect(outcome.code).toBe(0);
  return parse(outcome.stdout) as Resolved;
}

const words = (command: Service['command']) => (Array.isArray(command) ? command.join(' ') : (command ?? ''));

describe('compose files', () => {
  it('docker-compose.yml resolves', async () => {
    const dev = await resolved(DEV_FILE, {});
    expect(Object.keys(dev.services).sort()).toEqual(['app', 'postgres', 'temporal']);
  });

  it.each(Object.keys(REQUIRED))('docker-compose.prod.yml refuses to resolve without %s, and says so', async (name) => {
    const vars: Record<string, string> = { ...REQUIRED };
    delete vars[name];
    const outcome = await composeConfig(PROD_FILE, vars);
    expect(outcome.code).not.toBe(0);
    expect(outcome.stderr).toMatch(new RegExp(`Missing mandatory value.*: set ${name}\\b`));
  });

  it('docker-compose.prod.yml describes the production topology', async () => {
    const { services, volumes } = await resolved(PROD_FILE, REQUIRED);
    const { postgres, temporal, migrate, api, worker } = services;
    expect(Object.keys(services).sort()).toEqual(
      ['api', 'migrate', 'postgres', 'temporal', 'temporal-register', 'temporal-schema', 'temporal-ui', 'worker'],
    );

    // Postgres keeps its data in a named volume and says when it is ready
    const data = postgres!.volumes?.find((v) => v.split(':')[1] === '/var/lib/postgresql/data');
    expect(data).toBeDefined();
    expect(Object.keys(volumes ?? {})).toContain(data!.split(':')[0]);
    expect(words(postgres!.healthcheck?.test)).toMatch(/pg_isready/);

    // three workers by default, against the given upstream; nothing runs the simulator or the dev launcher
    expect(worker!.deploy?.replicas).toBe(3);
    expect(worker!.environment?.STORY_API_BASE_URL).toBe(REQUIRED.STORY_API_BASE_URL);
    for (const [name, service] of Object.entries(services)) {
      expect(`${name} ${words(service.command)}`).not.toMatch(/simulator|npm run dev/);
      expect(Object.keys(service.environment ?? {}).filter((k) => k.startsWith('SIM_'))).toEqual([]);
    }
    expect(words(worker!.command)).toBe('node --import tsx src/worker/main.ts');
    expect(words(api!.command)).toBe('node --import tsx src/api/main.ts');
    expect(words(migrate!.command)).toBe('node --import tsx src/migrate/main.ts');

    // the migrations and the Temporal registrations complete before the API or any worker starts
    for (const service of [api!, worker!]) {
      expect(service.depends_on?.migrate).toEqual({ condition: 'service_completed_successfully' });
      expect(service.depends_on?.['temporal-register']).toEqual({ condition: 'service_completed_successfully' });
    }
    expect(api!.environment?.API_KEY).toBe(REQUIRED.API_KEY);
    expect(worker!.environment).toMatchObject({ WORKER_METRICS_PORT: '9464', WORKER_METRICS_HOST: '0.0.0.0' });
    expect(api!.environment?.DATABASE_URL).toBe(worker!.environment?.DATABASE_URL);
    expect(api!.environment?.DATABASE_URL).toMatch(/^postgres:\/\/postgres:ci@postgres:5432\//);

    // the Temporal server runs with eager activities, from the dynamic config file it mounts
    const configPath = temporal!.environment?.DYNAMIC_CONFIG_FILE_PATH;
    const mount = temporal!.volumes?.find((v) => v.split(':')[1] === `/etc/temporal/${configPath}`);
    expect(mount).toBeDefined();
    const dynamicConfig = parse(await readFile(mount!.split(':')[0]!, 'utf8')) as Record<string, { value: unknown }[]>;
    expect(dynamicConfig['system.enableActivityEagerExecution']?.[0]?.value).toBe(true);
  });

  it('docker-compose.prod.yml serves the Temporal Web UI on this host only, and read-only', async () => {
    const { services } = await resolved(PROD_FILE, REQUIRED);
    const ui = services['temporal-ui']!;
    // anyone who reaches the Web UI with its write actions on can terminate or signal any batch's workflow
    expect(ui.ports).toEqual(['127.0.0.1:8080:8080/tcp']);
    expect(ui.environment?.TEMPORAL_DISABLE_WRITE_ACTIONS).toBe('true');
  });

  it('docker-compose.prod.yml runs WORKER_REPLICAS workers when it is set', async () => {
    const { services } = await resolved(PROD_FILE, { ...REQUIRED, WORKER_REPLICAS: '5' });
    expect(services.worker!.deploy?.replicas).toBe(5);
  });
});
