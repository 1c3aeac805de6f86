import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export const DEPLOY_FOLDER = join(dirname(require.resolve('../../package.json')), 'deploy');

/**
 * The objects `kubectl kustomize <folder>` renders: what `kubectl apply -k` would send. kubectl
 * (1.27 or later, for kustomize 5 components and replacements) must be on PATH; without it this
 * throws naming it rather than letting a check pass on nothing.
 */
export function renderKustomization(folder: string): KubernetesObject[] {
  let output: string;
  try {
    output = execFileSync('kubectl', ['kustomize', folder], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    if (failure.code === 'ENOENT') {
      throw new Error(
        'kubectl is not on PATH: the manifests are rendered with `kubectl kustomize` (kubectl 1.27+)',
      );
    }
    throw new Error(`kubectl kustomize ${folder} failed: ${failure.stderr ?? failure.message}`);
  }
  return parseAllDocuments(output).map((document) => document.toJS() as KubernetesObject);
}

type Container = {
  name: string;
  image: string;
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
};

export function podContainers(object: KubernetesObject): Container[] {
  const spec = (object.spec as { template?: { spec?: { containers?: Container[] } } })?.template?.spec;
  return spec?.containers ?? [];
}

/** A ConfigMap's data, or a Secret's data decoded (kustomize generators write base64 `data`). */
export function configValues(object: KubernetesObject): Record<string, string> {
  if (object.kind === 'ConfigMap') return { ...(object.data as Record<string, string>) };
  if (object.kind !== 'Secret') return {};
  const values: Record<string, string> = { ...(object.stringData as Record<string, string>) };
  for (const [key, value] of Object.entries((object.data ?? {}) as Record<string, string>)) {
    values[key] = Buffer.from(value, 'base64').toString('utf8');
  }
  return values;
}
