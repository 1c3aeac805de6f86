import { join } from 'node:path';
import { GATEWAY_CONFIG_SLICES, loadGatewayConfig } from '@mailgateway/gateway';
import { observabilityConfig } from '@mailgateway/observability';
import { DEPLOY_FOLDER, KubernetesObject, podContainers, renderKustomization } from './support/kustomize';

interface Model {
  new (data: unknown): { validate(): void };
}

/** Errors of `object` against the Kubernetes schema of its apiVersion and kind (kubernetes-models). */
function schemaErrors(object: KubernetesObject): string[] {
  const [group, version] = object.apiVersion.includes('/')
    ? object.apiVersion.split('/')
    : ['', object.apiVersion];
  const module = require(`kubernetes-models/${group ? `${group}/` : ''}${version}/${object.kind}`) as Record<
    string,
    Model
  >;
  try {
    new module[object.kind](object).validate();
    return [];
  } catch (error) {
    return [`${object.kind}/${object.metadata.name}: ${(error as Error).message}`];
  }
}

/** Keys of the ConfigMap and Secret that are not settings, or that sit on the wrong side. */
function settingProblems(objects: KubernetesObject[]): string[] {
  const problems: string[] = [];
  for (const object of objects) {
    const values = (
      object.kind === 'Secret' ? object.stringData : object.kind === 'ConfigMap' ? object.data : null
    ) as Record<string, string> | null;
    for (const key of Object.keys(values ?? {})) {
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

type Probe = { grpc?: { port: number; service?: string } };
type PodSpec = {
  terminationGracePeriodSeconds: number;
  containers: {
    name: string;
    image: string;
    args?: string[];
    ports?: { name: string; containerPort: number }[];
    readinessProbe?: Probe;
    livenessProbe?: Probe;
    lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  }[];
};
const podSpec = (object: KubernetesObject) => (object.spec as { template: { spec: PodSpec } }).template.spec;
const podLabels = (object: KubernetesObject) =>
  (object.spec as { template: { metadata: { labels: Record<string, string> } } }).template.metadata.labels;

describe.each([
  ['base', join(DEPLOY_FOLDER, 'base')],
  ['example overlay', join(DEPLOY_FOLDER, 'overlays/example')],
])('Kubernetes manifests: %s', (_name, folder) => {
  const objects = renderKustomization(folder);
  const deployment = find(objects, 'Deployment')[0];
  const gateway = podSpec(deployment).containers.find((container) => container.name === 'gateway')!;
  const config = Object.assign(
    {},
    ...find(objects, 'ConfigMap').map((object) => object.data),
    ...find(objects, 'Secret').map((object) => object.stringData),
  ) as Record<string, string>;

  it('validate against the Kubernetes schemas', () => {
    expect(objects.flatMap(schemaErrors)).toEqual([]);
    expect(objects.map((object) => object.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'Job',
      'PodDisruptionBudget',
      'Secret',
      'Service',
      'Service',
    ]);
  });

  it('configure the gateway with known settings only, each valid, secrets in the Secret', () => {
    expect(settingProblems(objects)).toEqual([]);
    expect(() => loadGatewayConfig(config)).not.toThrow();
    expect(loadGatewayConfig(config).get(observabilityConfig).metrics).toMatchObject({
      enabled: true,
      host: '0.0.0.0',
    });
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

  it('select the Deployment pods from every Service, the disruption budget and the autoscaler', () => {
    const labels = podLabels(deployment);
    const services = find(objects, 'Service');
    expect(services.some((service) => (service.spec as { clusterIP?: string }).clusterIP === 'None')).toBe(
      true,
    );
    for (const service of services) {
      expect(labels).toMatchObject((service.spec as { selector: Record<string, string> }).selector);
    }
    const [budget] = find(objects, 'PodDisruptionBudget');
    expect(labels).toMatchObject(
      (budget.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels,
    );
    const [autoscaler] = find(objects, 'HorizontalPodAutoscaler');
    expect((autoscaler.spec as { scaleTargetRef: unknown }).scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
  });

  it('migrate with the release image in a Job', () => {
    const [job] = find(objects, 'Job');
    const [migrate] = podContainers(job) as PodSpec['containers'];
    expect(migrate.image).toBe(gateway.image);
    expect(migrate.args).toEqual(['migrate']);
  });
});

describe('Kubernetes manifests: example overlay', () => {
  const objects = renderKustomization(join(DEPLOY_FOLDER, 'overlays/example'));

  it('sets the namespace, the image and a release-specific migration Job', () => {
    expect(objects.every((object) => object.metadata.namespace === 'mail')).toBe(true);
    expect(podContainers(find(objects, 'Deployment')[0])[0].image).toBe(
      'registry.example.com/platform/mailgateway:0.1.0',
    );
    expect(find(objects, 'Job')[0].metadata.name).toBe('mailgateway-migrate-0-1-0');
    expect((find(objects, 'Deployment')[0].spec as { replicas: number }).replicas).toBe(3);
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

  it('refuse a ConfigMap key that is no setting, and a secret in the ConfigMap', () => {
    const objects = base();
    const [configMap] = find(objects, 'ConfigMap');
    (configMap.data as Record<string, string>).DELIVERY_CONCURENCY = '10';
    (configMap.data as Record<string, string>).DATABASE_URL = 'postgresql://x@y/z';
    expect(settingProblems(objects)).toEqual([
      'ConfigMap/mailgateway: DELIVERY_CONCURENCY is not a setting',
      'ConfigMap/mailgateway: DATABASE_URL belongs in the Secret',
    ]);
  });
});
