import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { GATEWAY_CONFIG_SLICES, loadGatewayConfig } from '@mailgateway/gateway';
import { databaseConfig } from '@mailgateway/database';
import { observabilityConfig } from '@mailgateway/observability';
import { throttlingConfig } from '@mailgateway/throttling';
import {
  configValues,
  DEPLOY_FOLDER,
  KubernetesObject,
  podContainers,
  renderKustomization,
} from './support/kustomize';

interface Model {
  new (data: unknown): { validate(): void };
}

/** Where the schema of an apiVersion lives: kubernetes-models, and its prometheus-operator models. */
function modelPath(apiVersion: string, kind: string): string {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group === 'monitoring.coreos.com')
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  return `kubernetes-models/${group ? `${group}/` : ''}${version}/${kind}`;
}

/** Errors of `object` against the schema of its apiVersion and kind. */
function schemaErrors(object: KubernetesObject): string[] {
  const module = require(modelPath(object.apiVersion, object.kind)) as Record<string, Model>;
  try {
    new module[object.kind](withUnwrappedData(object)).validate();
    return [];
  } catch (error) {
    return [`${object.kind}/${object.metadata.name}: ${(error as Error).message}`];
  }
}

/**
 * kustomize wraps long base64 values of a Secret's data over several lines; the API server's
 * decoder (Go's base64) skips line breaks, the schema's "byte" format does not.
 */
function withUnwrappedData(object: KubernetesObject): KubernetesObject {
  if (object.kind !== 'Secret' || !object.data) return object;
  const data = Object.entries(object.data as Record<string, string>).map(([key, value]) => [
    key,
    value.replace(/\n/g, ''),
  ]);
  return { ...object, data: Object.fromEntries(data) };
}

/** The Secret holding the content key ring: mounted as files (CONTENT_KEYS_DIR), not settings. */
const CONTENT_KEYS_SECRET = 'mailgateway-content-keys';
const CONTENT_KEYS_DIR = '/etc/mailgateway/content-keys';
const isKeyRing = (object: KubernetesObject) =>
  object.kind === 'Secret' && object.metadata.name === CONTENT_KEYS_SECRET;

/** Keys of the ConfigMaps and Secrets that are not settings, or that sit on the wrong side. */
function settingProblems(objects: KubernetesObject[]): string[] {
  const problems: string[] = [];
  for (const object of objects.filter((each) => !isKeyRing(each))) {
    for (const key of Object.keys(configValues(object))) {
      const setting = GATEWAY_CONFIG_SLICES.find((slice) => key in slice.settings)?.settings[key];
      if (!setting) problems.push(`${object.kind}/${object.metadata.name}: ${key} is not a setting`);
      else if (Boolean(setting.sensitive) !== (object.kind === 'Secret')) {
        problems.push(
          `${object.kind}/${object.metadata.name}: ${key} belongs in the ${setting.sensitive ? 'Secret' : 'ConfigMap'}`,
        );
      }
    }
  }
  return problems;
}

const find = (objects: KubernetesObject[], kind: string, name?: string) => {
  const found = objects.filter((object) => object.kind === kind && (!name || object.metadata.name === name));
  if (found.length === 0) throw new Error(`no ${kind} ${name ?? ''}`);
  return found;
};

type Labels = Record<string, string>;
type Probe = { grpc?: { port: number; service?: string } };
type PodSpec = {
  terminationGracePeriodSeconds?: number;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  topologySpreadConstraints?: { topologyKey: string; labelSelector: { matchLabels: Labels } }[];
  containers: (ReturnType<typeof podContainers>[number] & {
    args?: string[];
    ports?: { name: string; containerPort: number }[];
    readinessProbe?: Probe;
    livenessProbe?: Probe;
    lifecycle?: { preStop?: { sleep?: { seconds: number } } };
    volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  })[];
  volumes?: { name: string; secret?: { secretName: string; defaultMode?: number } }[];
  securityContext?: Record<string, unknown>;
};
type NetworkPolicyPort = { protocol: string; port: number | string };
type NetworkPolicySpec = {
  podSelector: { matchLabels: Labels };
  ingress?: { from: Record<string, { matchLabels?: Labels }>[]; ports: NetworkPolicyPort[] }[];
  egress?: { to?: unknown[]; ports: NetworkPolicyPort[] }[];
};
const podSpec = (object: KubernetesObject) => (object.spec as { template: { spec: PodSpec } }).template.spec;
const podLabels = (object: KubernetesObject) =>
  (object.spec as { template: { metadata: { labels: Labels } } }).template.metadata.labels;
const selects = (selector: Labels, labels: Labels) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

const COMMON_LABELS = {
  'app.kubernetes.io/name': 'mailgateway',
  'app.kubernetes.io/instance': 'mailgateway',
  'app.kubernetes.io/part-of': 'mailgateway',
  'app.kubernetes.io/managed-by': 'kustomize',
};
// The selectors the manifests have always had: a Deployment's selector cannot change once applied.
const GATEWAY_SELECTOR = {
  'app.kubernetes.io/name': 'mailgateway',
  'app.kubernetes.io/component': 'gateway',
};
const BASE_KINDS = [
  'ConfigMap',
  'Deployment',
  'HorizontalPodAutoscaler',
  'Job',
  'NetworkPolicy',
  'NetworkPolicy',
  'PodDisruptionBudget',
  'Service',
  'Service',
  'ServiceAccount',
];

const EXAMPLE = join(DEPLOY_FOLDER, 'overlays/example');

describe.each([
  ['base', join(DEPLOY_FOLDER, 'base'), BASE_KINDS],
  ['example overlay', EXAMPLE, [...BASE_KINDS, 'PodMonitor', 'PrometheusRule', 'Secret', 'Secret'].sort()],
])('Kubernetes manifests: %s', (_name, folder, kinds) => {
  const objects = renderKustomization(folder);
  const [deployment] = find(objects, 'Deployment');
  const [job] = find(objects, 'Job');
  const gateway = podSpec(deployment).containers.find((container) => container.name === 'gateway')!;
  const config = Object.assign(
    {},
    ...objects
      .filter((object) => ['ConfigMap', 'Secret'].includes(object.kind) && !isKeyRing(object))
      .map(configValues),
  ) as Record<string, string>;
  const [gatewayPolicy] = find(objects, 'NetworkPolicy', 'mailgateway');
  const policy = gatewayPolicy.spec as NetworkPolicySpec;

  it('validate against the Kubernetes and prometheus-operator schemas', () => {
    expect(objects.flatMap(schemaErrors)).toEqual([]);
    expect(objects.map((object) => object.kind).sort()).toEqual(kinds);
  });

  it('configure the gateway with known settings only, each valid, secrets in the Secret', () => {
    expect(settingProblems(objects)).toEqual([]);
    expect(() => loadGatewayConfig(config)).not.toThrow();
    expect(loadGatewayConfig(config).get(observabilityConfig).metrics).toMatchObject({
      enabled: true,
      host: '0.0.0.0',
    });
  });

  it('name the settings ConfigMap after its content, and refer to that name', () => {
    const [configMap] = find(objects, 'ConfigMap');
    expect(configMap.metadata.name).toMatch(/^mailgateway-[a-z0-9]{10}$/);
    expect(gateway.envFrom).toContainEqual({ configMapRef: { name: configMap.metadata.name } });
  });

  it('take secrets from the Secret "mailgateway", which only an overlay or an operator provides', () => {
    expect(gateway.envFrom).toContainEqual({ secretRef: { name: 'mailgateway' } });
    expect(podContainers(job)[0].envFrom).toEqual([{ secretRef: { name: 'mailgateway' } }]);
    if (folder.endsWith('base')) expect(objects.filter((object) => object.kind === 'Secret')).toEqual([]);
  });

  it('mount the content key ring from the Secret "mailgateway-content-keys" at CONTENT_KEYS_DIR, readable by the gateway only', () => {
    expect(config.CONTENT_KEYS_DIR).toBe(CONTENT_KEYS_DIR);
    const volume = podSpec(deployment).volumes!.find(
      (each) => each.secret?.secretName === CONTENT_KEYS_SECRET,
    )!;
    expect(volume.secret!.defaultMode).toBe(0o440);
    expect(gateway.volumeMounts).toContainEqual({
      name: volume.name,
      mountPath: CONTENT_KEYS_DIR,
      readOnly: true,
    });
    expect(podSpec(deployment).securityContext).toMatchObject({ runAsGroup: 1000, fsGroup: 1000 });
    expect(podSpec(job).containers[0].volumeMounts ?? []).not.toContainEqual(
      expect.objectContaining({ mountPath: CONTENT_KEYS_DIR }),
    );
    const rings = objects.filter(isKeyRing);
    if (folder.endsWith('base')) expect(rings).toEqual([]);
    for (const ring of rings) {
      for (const [id, value] of Object.entries(configValues(ring))) {
        expect({ id, bytes: Buffer.from(value, 'base64').length }).toEqual({ id, bytes: 32 });
      }
    }
  });

  it('leave the replica count to the autoscaler', () => {
    const [autoscaler] = find(objects, 'HorizontalPodAutoscaler');
    expect((autoscaler.spec as { scaleTargetRef: unknown }).scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    expect(deployment.spec).not.toHaveProperty('replicas');
  });

  it('probe gRPC health: readiness on service "", liveness on "liveness", on the gRPC port', () => {
    const grpcPort = gateway.ports!.find((port) => port.name === 'grpc')!.containerPort;
    expect(grpcPort).toBe(Number(config.GRPC_PORT));
    expect(gateway.readinessProbe?.grpc).toEqual({ port: grpcPort });
    expect(gateway.livenessProbe?.grpc).toEqual({ port: grpcPort, service: 'liveness' });
  });

  it('give the pod enough grace for the preStop pause and the shutdown deadline', () => {
    const preStopSeconds = gateway.lifecycle?.preStop?.sleep?.seconds ?? 0;
    const shutdownSeconds = Number(config.SHUTDOWN_TIMEOUT_MS) / 1000;
    expect(podSpec(deployment).terminationGracePeriodSeconds).toBeGreaterThan(
      preStopSeconds + shutdownSeconds,
    );
  });

  it('select the Deployment pods, with the same labels as ever, from every Service, budget and policy', () => {
    expect((deployment.spec as { selector: { matchLabels: Labels } }).selector.matchLabels).toEqual(
      GATEWAY_SELECTOR,
    );
    const labels = podLabels(deployment);
    const services = find(objects, 'Service');
    expect(services.some((service) => (service.spec as { clusterIP?: string }).clusterIP === 'None')).toBe(
      true,
    );
    const selectors = [
      ...services.map((service) => (service.spec as { selector: Labels }).selector),
      ...find(objects, 'PodDisruptionBudget').map(
        (budget) => (budget.spec as { selector: { matchLabels: Labels } }).selector.matchLabels,
      ),
      policy.podSelector.matchLabels,
      ...objects
        .filter((object) => object.kind === 'PodMonitor')
        .map((monitor) => (monitor.spec as { selector: { matchLabels: Labels } }).selector.matchLabels),
    ];
    for (const selector of selectors) expect(selector).toEqual(GATEWAY_SELECTOR);
    for (const selector of selectors) expect(selects(selector, labels)).toBe(true);
    // The migration pods are not gateway pods: no Service sends them calls.
    expect(selects(GATEWAY_SELECTOR, podLabels(job))).toBe(false);
  });

  it('label every object and pod template app.kubernetes.io/name, instance, component, part-of, managed-by', () => {
    const templates = [deployment, job].map((object) => ({
      kind: object.kind,
      metadata: { name: `${object.metadata.name} pod`, labels: podLabels(object) },
    }));
    for (const object of [...objects, ...templates]) {
      expect({ object: `${object.kind}/${object.metadata.name}`, labels: object.metadata.labels }).toEqual({
        object: `${object.kind}/${object.metadata.name}`,
        labels: expect.objectContaining({
          ...COMMON_LABELS,
          'app.kubernetes.io/component': expect.any(String),
        }),
      });
    }
  });

  it('run the gateway and the Job under a ServiceAccount that mounts no API token', () => {
    const [account] = find(objects, 'ServiceAccount');
    expect(account.automountServiceAccountToken).toBe(false);
    for (const workload of [deployment, job]) {
      expect(podSpec(workload)).toMatchObject({
        serviceAccountName: account.metadata.name,
        automountServiceAccountToken: false,
      });
    }
  });

  it('spread the gateway pods across zones and across hosts', () => {
    const constraints = podSpec(deployment).topologySpreadConstraints ?? [];
    expect(constraints.map((constraint) => constraint.topologyKey)).toEqual([
      'topology.kubernetes.io/zone',
      'kubernetes.io/hostname',
    ]);
    for (const constraint of constraints) {
      expect(selects(constraint.labelSelector.matchLabels, podLabels(deployment))).toBe(true);
    }
  });

  it('let gRPC in from this namespace and metrics in from the monitoring namespace only', () => {
    const containerPort = (name: string | number) =>
      typeof name === 'number' ? name : gateway.ports!.find((port) => port.name === name)?.containerPort;
    const rules = (policy.ingress ?? []).map((rule) => ({
      from: rule.from,
      ports: rule.ports.map((port) => `${containerPort(port.port)}/${port.protocol}`),
    }));
    expect(rules).toEqual([
      { from: [{ podSelector: {} }], ports: [`${config.GRPC_PORT}/TCP`] },
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
        ports: [`${config.METRICS_PORT}/TCP`],
      },
    ]);
  });

  it('let the gateway out to DNS, PostgreSQL, Redis and HTTPS, and the Job to DNS and PostgreSQL only', () => {
    const ports = (spec: NetworkPolicySpec) =>
      (spec.egress ?? [])
        .filter((rule) => !rule.to)
        .flatMap((rule) => rule.ports.map((port) => `${port.port}/${port.protocol}`));
    expect(ports(policy).sort()).toEqual(['443/TCP', '53/TCP', '53/UDP', '5432/TCP', '6379/TCP']);
    const [migratePolicy] = find(objects, 'NetworkPolicy', 'mailgateway-migrate');
    const migrate = migratePolicy.spec as NetworkPolicySpec & { policyTypes: string[] };
    expect(selects(migrate.podSelector.matchLabels, podLabels(job))).toBe(true);
    expect(selects(migrate.podSelector.matchLabels, podLabels(deployment))).toBe(false);
    expect(migrate.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(migrate.ingress).toBeUndefined();
    expect(ports(migrate).sort()).toEqual(['53/TCP', '53/UDP', '5432/TCP']);
  });

  it('migrate with the release image in a Job', () => {
    const [migrate] = podContainers(job) as PodSpec['containers'];
    expect(migrate.image).toBe(gateway.image);
    expect(migrate.args).toEqual(['migrate']);
  });
});

describe('Kubernetes manifests: example overlay', () => {
  const objects = renderKustomization(EXAMPLE);
  const config = Object.assign({}, ...objects.map(configValues)) as Record<string, string>;

  it('sets the namespace, the image, and names the migration Job and the version after the tag', () => {
    expect(objects.every((object) => object.metadata.namespace === 'mail')).toBe(true);
    const [deployment] = find(objects, 'Deployment');
    const [job] = find(objects, 'Job');
    expect(podContainers(deployment)[0].image).toBe('registry.example.com/platform/mailgateway:0.1.0');
    expect(job.metadata.name).toBe('mailgateway-migrate-0.1.0');
    for (const labels of [deployment, job].flatMap((object) => [object.metadata.labels, podLabels(object)])) {
      expect(labels).toMatchObject({ 'app.kubernetes.io/version': '0.1.0' });
    }
  });

  it('gives several replicas what they need: PostgreSQL, and Redis for shared rate limits', () => {
    const [autoscaler] = find(objects, 'HorizontalPodAutoscaler');
    expect((autoscaler.spec as { minReplicas: number }).minReplicas).toBeGreaterThan(1);
    const loaded = loadGatewayConfig(config);
    expect(loaded.get(databaseConfig).type).toBe('postgres');
    expect(loaded.get(throttlingConfig).redis).toBeDefined();
  });

  it('lets traces out to the OTLP collector it is configured with', () => {
    const collector = new URL(config.OTEL_EXPORTER_OTLP_ENDPOINT);
    const [policy] = find(objects, 'NetworkPolicy', 'mailgateway');
    const namespace = collector.hostname.split('.')[1];
    expect((policy.spec as NetworkPolicySpec).egress).toContainEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } }],
      ports: [{ protocol: 'TCP', port: Number(collector.port) }],
    });
  });
});

describe('Kubernetes manifests: a release and a settings change', () => {
  // A copy of deploy/ to edit, rendered as `kubectl apply -k` would see the edit.
  let copy: string;
  beforeEach(() => {
    copy = mkdtempSync(join(tmpdir(), 'mailgateway-deploy-'));
    cpSync(DEPLOY_FOLDER, copy, { recursive: true });
  });
  afterEach(() => rmSync(copy, { recursive: true, force: true }));

  const render = () => renderKustomization(join(copy, 'overlays/example'));
  const jobOf = (objects: KubernetesObject[]) => find(objects, 'Job')[0];

  it('a new image tag alone gives the migration Job a new name', () => {
    const path = join(copy, 'overlays/example/kustomization.yaml');
    const kustomization = parseDocument(readFileSync(path, 'utf8'));
    kustomization.setIn(['images', 0, 'newTag'], '0.2.0');
    writeFileSync(path, kustomization.toString());
    const objects = render();
    expect(jobOf(objects).metadata.name).toBe('mailgateway-migrate-0.2.0');
    expect(podContainers(jobOf(objects))[0].image).toBe('registry.example.com/platform/mailgateway:0.2.0');
  });

  it('a settings change renames the ConfigMap, so the pods roll, and leaves the applied Job as it is', () => {
    const before = render();
    const path = join(copy, 'overlays/example/settings.env');
    writeFileSync(path, `${readFileSync(path, 'utf8')}DELIVERY_MAX_ATTEMPTS=30\n`);
    const after = render();
    const configMapName = (objects: KubernetesObject[]) => find(objects, 'ConfigMap')[0].metadata.name;
    expect(configMapName(after)).not.toBe(configMapName(before));
    expect(podContainers(find(after, 'Deployment')[0])[0].envFrom).toContainEqual({
      configMapRef: { name: configMapName(after) },
    });
    // A Job's template is immutable: applying a changed one under the same name would fail.
    expect(jobOf(after)).toEqual(jobOf(before));
  });
});

describe('Kubernetes manifest checks', () => {
  const base = () => renderKustomization(join(DEPLOY_FOLDER, 'base'));
  const deploymentOf = (objects: KubernetesObject[]) => find(objects, 'Deployment')[0];

  it.each([
    [
      'a count that is not a number',
      (deployment: KubernetesObject) => ((deployment.spec as Record<string, unknown>).replicas = 'two'),
    ],
    [
      'a probe port by name (gRPC probes need a number)',
      (deployment: KubernetesObject) => {
        podSpec(deployment).containers[0].readinessProbe = { grpc: { port: 'grpc' as unknown as number } };
      },
    ],
    [
      'a Deployment without a selector',
      (deployment: KubernetesObject) => delete (deployment.spec as Record<string, unknown>).selector,
    ],
  ])('refuse %s', (_what, breakIt) => {
    const deployment = deploymentOf(base());
    breakIt(deployment);
    expect(schemaErrors(deployment)).not.toEqual([]);
  });

  it('refuse an alert rule without an expression', () => {
    const [rule] = find(renderKustomization(EXAMPLE), 'PrometheusRule');
    const spec = rule.spec as { groups: { rules: Record<string, unknown>[] }[] };
    delete spec.groups[0].rules[0].expr;
    expect(schemaErrors(rule)).toEqual([expect.stringContaining('must have required property expr')]);
  });

  it('refuse a ConfigMap key that is no setting, and a secret in the ConfigMap', () => {
    const objects = base();
    const [configMap] = find(objects, 'ConfigMap');
    (configMap.data as Record<string, string>).DELIVERY_CONCURENCY = '10';
    (configMap.data as Record<string, string>).DATABASE_URL = 'postgresql://x@y/z';
    expect(settingProblems(objects)).toEqual([
      `ConfigMap/${configMap.metadata.name}: DELIVERY_CONCURENCY is not a setting`,
      `ConfigMap/${configMap.metadata.name}: DATABASE_URL belongs in the Secret`,
    ]);
  });

  it('read a generated Secret the way the pod sees it', () => {
    const [secret] = find(renderKustomization(EXAMPLE), 'Secret', 'mailgateway');
    expect(configValues(secret).REDIS_URL).toBe('redis://redis.mail:6379');
  });
});
