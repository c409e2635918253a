/** The dashboard and the Prometheus rule files as the tests read them: their panels, rules and PromQL. */
import fs from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { REPO_ROOT } from '@drone-pipeline/shared/paths.ts'
import { RULES_DIR } from '../runner/src/prometheus.ts'

export const DASHBOARD_FILE = path.join(REPO_ROOT, 'grafana-provisioning', 'dashboards', 'pipeline.json')
export const RULE_TESTS_DIR = path.join(path.dirname(RULES_DIR), 'tests')

interface DatasourceRef {
  type?: string
  uid?: string
}

export interface Panel {
  type: string
  title: string
  datasource?: DatasourceRef
  targets?: Array<{ expr?: string; datasource?: DatasourceRef }>
  /** A collapsed row keeps its panels here. */
  panels?: Panel[]
}

export interface Dashboard {
  uid: string
  panels: Panel[]
}

export function readDashboard(file = DASHBOARD_FILE): Dashboard {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Dashboard
}

/** Every panel, those inside collapsed rows included. */
export function dashboardPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])])
}

/** Each query of the dashboard with the title of its panel. */
export function dashboardQueries(dashboard = readDashboard()): Array<{ panel: string; expr: string }> {
  return dashboardPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).flatMap((t) => (t.expr ? [{ panel: panel.title, expr: t.expr }] : [])),
  )
}

export interface Rule {
  record?: string
  alert?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}

/** Files in a directory of the deploy/prometheus tree with a .yml name, sorted. */
export function ymlFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.yml'))
    .sort()
    .map((name) => path.join(dir, name))
}

/** Every recording and alerting rule of deploy/prometheus/rules/. */
export function readRules(): Rule[] {
  return ymlFiles(RULES_DIR).flatMap((file) => {
    const { groups } = parse(fs.readFileSync(file, 'utf8')) as { groups: Array<{ rules: Rule[] }> }
    return groups.flatMap((group) => group.rules)
  })
}
