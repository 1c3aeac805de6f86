import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { GatewayMetrics } from '@mailgateway/observability';
import { DEPLOY_FOLDER, renderKustomization } from './support/kustomize';

interface Rule {
  alert: string;
  expr: string;
}
interface RulesTest {
  rule_files: string[];
  tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const MONITORING = join(DEPLOY_FOLDER, 'components/monitoring');
const RULES_TEST = join(MONITORING, 'alert-rules.test.yaml');
const PROMTOOL = join(DEPLOY_FOLDER, '../scripts/promtool.sh');

// Series the rules use that the gateway does not export, and who does.
const EXTERNAL_SERIES: Record<string, string> = {
  up: 'Prometheus, for every scrape target',
  kube_pod_status_ready: 'kube-state-metrics',
};
// Labels Prometheus adds to every series it scrapes through the PodMonitor.
const TARGET_LABELS = ['job', 'namespace', 'pod'];
const GROUPING = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g;
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset']);

/** The series selectors and grouping labels of a PromQL expression. */
function parseExpression(expr: string): {
  selectors: { name: string; labels: string[] }[];
  grouping: string[];
} {
  let rest = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const grouping = [...rest.matchAll(GROUPING)].flatMap((match) =>
    match[2]
      .split(',')
      .map((label) => label.trim())
      .filter(Boolean),
  );
  rest = rest
    .replace(GROUPING, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\boffset\s+\w+/g, ' ');
  const selectors: { name: string; labels: string[] }[] = [];
  rest = rest.replace(
    /([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g,
    (_all, name: string | undefined, matchers: string) => {
      const labels = matchers
        .split(',')
        .map((matcher) => matcher.split(/[=!~]/)[0].trim())
        .filter(Boolean);
      selectors.push({ name: name ?? '', labels });
      return ' ';
    },
  );
  for (const match of rest.matchAll(/([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (!match[2] && !KEYWORDS.has(match[1])) selectors.push({ name: match[1], labels: [] });
  }
  return { selectors, grouping };
}

/** What is wrong with the metrics and labels `expr` uses, against the gateway's registry. */
function metricProblems(alert: string, expr: string): string[] {
  const registry = new GatewayMetrics().registry;
  const labelsOf = (name: string) => {
    const metric =
      registry.getSingleMetric(name) ?? registry.getSingleMetric(name.replace(/_(bucket|sum|count)$/, ''));
    return metric && (metric as unknown as { labelNames: string[] }).labelNames;
  };
  const { selectors, grouping } = parseExpression(expr);
  const problems: string[] = [];
  const known = new Set(TARGET_LABELS);
  for (const { name, labels } of selectors) {
    if (name in EXTERNAL_SERIES) {
      labels.forEach((label) => known.add(label));
      continue;
    }
    const metricLabels = labelsOf(name);
    if (!metricLabels) {
      problems.push(`${alert}: ${name || 'a selector without a name'} is not a metric the gateway exports`);
      continue;
    }
    metricLabels.forEach((label) => known.add(label));
    if (name.endsWith('_bucket')) known.add('le');
    for (const label of labels.filter(
      (label) => !TARGET_LABELS.includes(label) && !metricLabels.includes(label),
    )) {
      problems.push(`${alert}: ${name} has no label ${label}`);
    }
  }
  for (const label of grouping.filter((label) => !known.has(label))) {
    problems.push(`${alert}: groups by ${label}, which none of its series has`);
  }
  return problems;
}

/** The rules of the PrometheusRule the example overlay renders, as a Prometheus rules file. */
function renderedRules(): { groups: { name: string; rules: Rule[] }[] } {
  const rule = renderKustomization(join(DEPLOY_FOLDER, 'overlays/example')).find(
    (object) => object.kind === 'PrometheusRule',
  );
  if (!rule) throw new Error('the example overlay renders no PrometheusRule');
  return { groups: (rule.spec as { groups: { name: string; rules: Rule[] }[] }).groups };
}

function promtool(args: string[], cwd: string): string {
  try {
    return execFileSync(PROMTOOL, args, { cwd, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `promtool ${args.join(' ')} failed:\n${failure.stdout ?? ''}${failure.stderr ?? failure.message}`,
    );
  }
}

describe('alert rules', () => {
  const rules = renderedRules();
  const alerts = rules.groups.flatMap((group) => group.rules);
  const rulesTest = parse(readFileSync(RULES_TEST, 'utf8')) as RulesTest;

  it('alert on backlog, failures, expiry, upstream addresses, throttling and readiness', () => {
    expect(alerts.map((rule) => rule.alert)).toEqual([
      'MailgatewayOutboxBacklog',
      'MailgatewayDeliveryFailureRate',
      'MailgatewayMessagesExpiring',
      'MailgatewayUpstreamAddressUnhealthy',
      'MailgatewayThrottling',
      'MailgatewayReplicaDown',
      'MailgatewayNotReady',
      'MailgatewayDown',
    ]);
  });

  it('use only metrics the gateway exports, with their real labels', () => {
    expect(alerts.flatMap((rule) => metricProblems(rule.alert, rule.expr))).toEqual([]);
  });

  it('pass their promtool tests, run on the rules exactly as rendered', () => {
    const folder = mkdtempSync(join(tmpdir(), 'mailgateway-rules-'));
    try {
      expect(rulesTest.rule_files).toEqual(['rules.yaml']);
      writeFileSync(join(folder, 'rules.yaml'), stringify(rules));
      copyFileSync(RULES_TEST, join(folder, 'alert-rules.test.yaml'));
      expect(promtool(['check', 'rules', 'rules.yaml'], folder)).toContain(
        `SUCCESS: ${alerts.length} rules found`,
      );
      expect(promtool(['test', 'rules', 'alert-rules.test.yaml'], folder)).toContain('SUCCESS');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('are each tested firing and not firing', () => {
    const cases = rulesTest.tests.flatMap((test) => test.alert_rule_test);
    const untested = alerts.flatMap(({ alert }) => {
      const mine = cases.filter((test) => test.alertname === alert);
      return [
        ...(mine.some((test) => test.exp_alerts.length > 0) ? [] : [`${alert} never fires`]),
        ...(mine.some((test) => test.exp_alerts.length === 0) ? [] : [`${alert} is never shown silent`]),
      ];
    });
    expect(untested).toEqual([]);
  });
});

describe('alert rule checks', () => {
  it.each([
    [
      'an unknown metric',
      'rate(mailgateway_delivery_attempt_total[5m]) > 0',
      'is not a metric the gateway exports',
    ],
    ['an unknown label', 'mailgateway_throttled_calls_total{reason="x"} > 0', 'has no label reason'],
    [
      'grouping by an unknown label',
      'sum by (provider) (mailgateway_throttled_calls_total) > 0',
      'groups by provider',
    ],
  ])('refuse %s', (_what, expr, problem) => {
    expect(metricProblems('Test', expr)).toEqual([expect.stringContaining(problem)]);
  });

  it('accept histogram series, target labels and external series', () => {
    const expr =
      'histogram_quantile(0.99, sum by (le, namespace) (rate(mailgateway_delivery_attempt_duration_seconds_bucket{job="mailgateway"}[5m]))) > 1 and on (namespace) up';
    expect(metricProblems('Test', expr)).toEqual([]);
  });
});
