import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface Kustomization {
  resources?: string[];
  namespace?: string;
  images?: { name: string; newName?: string; newTag?: string }[];
  patches?: { path: string; target?: { kind: string; name: string } }[];
}

interface JsonPatchOperation {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/**
 * Renders a kustomization the way `kubectl kustomize` does for the features deploy/ uses:
 * resources (files and bases), namespace, images, strategic-merge patches (lists of named items
 * merge by name) and JSON 6902 patches with a target. Anything else is refused, not ignored.
 */
export function renderKustomization(folder: string): KubernetesObject[] {
  const kustomization = readYaml(join(folder, 'kustomization.yaml'))[0] as Kustomization &
    Record<string, unknown>;
  const unsupported = Object.keys(kustomization).filter(
    (key) => !['apiVersion', 'kind', 'resources', 'namespace', 'images', 'patches'].includes(key),
  );
  if (unsupported.length > 0) throw new Error(`${folder}: unsupported kustomization fields ${unsupported}`);
  let objects = (kustomization.resources ?? []).flatMap((resource) => {
    const path = join(folder, resource);
    return statSync(path).isDirectory() ? renderKustomization(path) : (readYaml(path) as KubernetesObject[]);
  });
  for (const patch of kustomization.patches ?? []) {
    const [document] = readYaml(join(folder, patch.path));
    objects = objects.map((object) => {
      if (patch.target) {
        const matches = object.kind === patch.target.kind && object.metadata.name === patch.target.name;
        return matches ? applyJsonPatch(object, document as JsonPatchOperation[]) : object;
      }
      const target = document as KubernetesObject;
      const matches = object.kind === target.kind && object.metadata.name === target.metadata.name;
      return matches ? (strategicMerge(object, target) as KubernetesObject) : object;
    });
  }
  for (const object of objects) {
    if (kustomization.namespace) object.metadata.namespace = kustomization.namespace;
    for (const container of podContainers(object)) {
      const image = kustomization.images?.find(({ name }) => container.image === name);
      if (image) container.image = `${image.newName ?? image.name}${image.newTag ? `:${image.newTag}` : ''}`;
    }
  }
  return objects;
}

export function podContainers(object: KubernetesObject): { name: string; image: string }[] {
  const spec = (object.spec as { template?: { spec?: { containers?: { name: string; image: string }[] } } })
    ?.template?.spec;
  return spec?.containers ?? [];
}

function readYaml(path: string): unknown[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((document) => {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors[0].message}`);
    return document.toJS();
  });
}

function strategicMerge(base: unknown, patch: unknown): unknown {
  if (Array.isArray(base) && Array.isArray(patch)) {
    const named = (item: unknown) => typeof item === 'object' && item !== null && 'name' in item;
    if (!base.every(named) || !patch.every(named)) return patch;
    const merged = base.map((item) => {
      const update = patch.find((candidate) => candidate.name === item.name);
      return update ? strategicMerge(item, update) : item;
    });
    return [...merged, ...patch.filter((item) => !base.some((existing) => existing.name === item.name))];
  }
  if (isObject(base) && isObject(patch)) {
    const result: Record<string, unknown> = { ...base };
    for (const [key, value] of Object.entries(patch))
      result[key] = key in base ? strategicMerge(base[key], value) : value;
    return result;
  }
  return patch;
}

function applyJsonPatch(object: KubernetesObject, operations: JsonPatchOperation[]): KubernetesObject {
  const copy = structuredClone(object);
  for (const { op, path, value } of operations) {
    const keys = path
      .split('/')
      .slice(1)
      .map((key) => key.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop()!;
    const parent = keys.reduce<Record<string, unknown>>(
      (node, key) => node[key] as Record<string, unknown>,
      copy,
    );
    if (op === 'remove') delete parent[last];
    else parent[last] = value;
  }
  return copy;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const DEPLOY_FOLDER = join(dirname(require.resolve('../../package.json')), 'deploy');
