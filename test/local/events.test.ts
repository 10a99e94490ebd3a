// events.k8s.io/v1 in local mode, with kubectl: the same Events as core v1, converted both ways as kube-apiserver
// converts them; discovery, field selectors, watch, kubectl explain, validation of a create, and a recorder
// posting through the new API (client-node's EventsV1Api, as the cluster mode records) read back as core v1.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import test from 'ava';
import { clusterEvents } from '../../storage/kubernetes/cluster.ts';
import { eventually, startLocalWithGuide, type LocalServer } from '../support/local.ts';

let local: LocalServer;
test.before(async () => {
  local = await startLocalWithGuide();
  await local.kubectl(['create', 'namespace', 'team-events']);
});
test.after.always(async () => local?.stop());

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function json(args: string[]): Promise<Json> {
  const { stdout, stderr, code } = await local.kubectl([...args, '-o', 'json']);
  if (code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${stderr}`);
  return JSON.parse(stdout) as Json;
}

const v1 = 'events.v1.events.k8s.io';

/** An Event as client-go's events.k8s.io/v1 recorder writes one, about a ConfigMap of team-events. */
function newEvent(name: string, fields = ''): string {
  return `apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: ${name}, namespace: team-events}
eventTime: "2026-12-05T01:02:03.123456Z"
reportingController: example.com/settings-controller
reportingInstance: settings-controller-1
action: Reload
reason: Reloaded
type: Normal
note: settings reloaded
regarding: {apiVersion: v1, kind: ConfigMap, name: settings, namespace: team-events, uid: u-settings}
${fields}`;
}

test('kubectl api-resources lists events in events.k8s.io/v1 beside core v1', async (t) => {
  const { stdout } = await local.kubectl(['api-resources', '--no-headers']);
  const events = stdout.split('\n').filter((l) => /^events\s/.test(l));
  t.deepEqual(
    events.map((l) => l.split(/\s+/)),
    [
      ['events', 'ev', 'v1', 'true', 'Event'],
      ['events', 'ev', 'events.k8s.io/v1', 'true', 'Event'],
    ],
  );
  // Plain `events` is still core v1, as in a cluster: kubectl describe and kubectl events read those.
  t.is((await json(['get', 'events', '-n', 'default'])).items[0]?.apiVersion, 'v1');
});

test("the server's own Events read through events.k8s.io/v1: regarding, note, deprecatedSource and deprecatedCount", async (t) => {
  const role = await json(['get', 'databaserole', 'app-user', '-n', 'default']);
  const list = await json([
    'get',
    v1,
    '-n',
    'default',
    '--field-selector',
    'regarding.name=app-user,regarding.kind=DatabaseRole,reason=Applied',
  ]);
  t.is(list.apiVersion, 'v1'); // kubectl's own List wrapper
  t.is(list.items.length, 1, JSON.stringify(list.items));
  const event = list.items[0];
  t.like(event, {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    type: 'Normal',
    reason: 'Applied',
    regarding: { kind: 'DatabaseRole', name: 'app-user', namespace: 'default', uid: role.metadata.uid },
    deprecatedSource: { component: 'postgres-apiserver' },
    deprecatedCount: 1,
  });
  t.regex(event.note, /^applied \d+ statements?: creating role "my_app_user"/);
  t.regex(event.regarding.resourceVersion, /^\d+$/, 'the resourceVersion the role had, never "undefined"');
  for (const core of ['involvedObject', 'message', 'source', 'count', 'firstTimestamp']) t.false(core in event, core);
  const table = await local.kubectl(['get', v1, '-A', '--field-selector', 'regarding.name=app-user']);
  t.regex(table.stdout, /^NAMESPACE\s+LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n/);
  t.regex(table.stdout, /\ndefault\s+\d+s\s+Normal\s+Applied\s+databaserole\/app-user\s+applied/);
});

test('an Event created through events.k8s.io/v1 reads back through core v1, and one created through core v1 the other way', async (t) => {
  t.is((await local.kubectl(['create', '-f', '-'], newEvent('settings.1'))).code, 0);
  const core = await json(['get', 'events', '-n', 'team-events', 'settings.1']);
  t.like(core, {
    apiVersion: 'v1',
    eventTime: '2026-12-05T01:02:03.123456Z',
    involvedObject: { kind: 'ConfigMap', name: 'settings', namespace: 'team-events', uid: 'u-settings' },
    message: 'settings reloaded',
    reportingComponent: 'example.com/settings-controller',
    reportingInstance: 'settings-controller-1',
    action: 'Reload',
  });
  for (const v1Field of ['regarding', 'note', 'reportingController']) t.false(v1Field in core, v1Field);

  const legacy = `apiVersion: v1
kind: Event
metadata: {name: settings.legacy, namespace: team-events}
involvedObject: {apiVersion: v1, kind: ConfigMap, name: settings, namespace: team-events}
reason: Changed
message: changed by hand
type: Warning
source: {component: old-recorder, host: node-1}
firstTimestamp: "2026-12-05T01:00:00Z"
lastTimestamp: "2026-12-05T01:05:00Z"
count: 4
`;
  t.is((await local.kubectl(['create', '-f', '-'], legacy)).code, 0);
  const converted = await json(['get', v1, '-n', 'team-events', 'settings.legacy']);
  t.like(converted, {
    apiVersion: 'events.k8s.io/v1',
    note: 'changed by hand',
    regarding: { kind: 'ConfigMap', name: 'settings' },
    deprecatedSource: { component: 'old-recorder', host: 'node-1' },
    deprecatedFirstTimestamp: '2026-12-05T01:00:00Z',
    deprecatedLastTimestamp: '2026-12-05T01:05:00Z',
    deprecatedCount: 4,
  });
  t.is(converted.metadata.uid, (await json(['get', 'events', '-n', 'team-events', 'settings.legacy'])).metadata.uid, 'one object');
  const missing = await local.kubectl(['get', v1, '-n', 'team-events', 'nothing-here']);
  t.regex(missing.stderr, /events\.events\.k8s\.io "nothing-here" not found/);
  const again = await local.kubectl(['create', '-f', '-'], newEvent('settings.1'));
  t.regex(again.stderr, /events\.events\.k8s\.io "settings\.1" already exists/);
});

test("a recorder posting through events.k8s.io/v1 (the cluster mode's, on client-node) is read back through core v1", async (t) => {
  const config = new KubeConfig();
  config.loadFromFile(local.kubeconfig);
  const failures: unknown[] = [];
  const recorder = clusterEvents(config, (error) => failures.push(error));
  // An object read without its resourceVersion: the Event names none rather than "undefined".
  const object = {
    apiVersion: 'postgres.databases.dinhloc.dev/v1alpha1',
    kind: 'DatabaseRole',
    metadata: { name: 'recorded-role', namespace: 'team-events', uid: 'u-recorded' },
  };
  await recorder.record(object, 'Warning', 'RecorderCheck', 'recorded through events.k8s.io/v1');
  t.deepEqual(failures, []);
  const [event] = (await json(['get', 'events', '-n', 'team-events', '--field-selector', 'involvedObject.name=recorded-role'])).items;
  t.like(event, {
    type: 'Warning',
    reason: 'RecorderCheck',
    message: 'recorded through events.k8s.io/v1',
    action: 'Fail',
    reportingComponent: 'postgres.databases.dinhloc.dev/apiserver',
    involvedObject: { kind: 'DatabaseRole', name: 'recorded-role', namespace: 'team-events', uid: 'u-recorded' },
  });
  t.regex(event.eventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  t.false('resourceVersion' in event.involvedObject, JSON.stringify(event.involvedObject));
  // kubectl events (core v1) lists it with the others of the namespace.
  const listed = await local.kubectl(['events', '-n', 'team-events']);
  t.regex(listed.stdout, /Warning\s+RecorderCheck\s+DatabaseRole\/recorded-role\s+recorded through events\.k8s\.io\/v1/);
});

test('field selectors: regarding.*, reportingController, type and reason on events.k8s.io/v1; involvedObject.* on core v1 only', async (t) => {
  t.is((await local.kubectl(['create', '-f', '-'], newEvent('selected.1').replaceAll('name: settings', 'name: selected'))).code, 0);
  const names = async (resource: string, selector: string) => {
    const { stdout, stderr, code } = await local.kubectl([
      'get',
      resource,
      '-n',
      'team-events',
      '--field-selector',
      selector,
      '-o',
      'name',
    ]);
    return code === 0 ? stdout.trim() : stderr;
  };
  t.is(await names(v1, 'regarding.name=selected,regarding.kind=ConfigMap'), 'event.events.k8s.io/selected.1');
  t.is(await names(v1, 'regarding.name=selected,type=Normal,reason=Reloaded'), 'event.events.k8s.io/selected.1');
  t.is(await names(v1, 'regarding.name=selected,type=Warning'), '');
  t.is(await names(v1, 'regarding.name=selected,reportingController=example.com/settings-controller'), 'event.events.k8s.io/selected.1');
  t.is(await names('events', 'involvedObject.name=selected,reportingComponent=example.com/settings-controller'), 'event/selected.1');
  t.is(await names('events', 'involvedObject.name=selected,source=example.com/settings-controller'), 'event/selected.1');
  t.regex(await names(v1, 'involvedObject.name=selected'), /field label not supported: involvedObject\.name/);
  t.regex(await names('events', 'regarding.name=selected'), /field label not supported: regarding\.name/);
});

test('kubectl get events.v1.events.k8s.io -w sees an Event written through core v1, converted', async (t) => {
  const child = spawn('kubectl', ['--kubeconfig', local.kubeconfig, 'get', v1, '-A', '-w', '--output-watch-events', '-o', 'json'], {
    env: { ...process.env, KUBECACHEDIR: join(local.dataDir, 'kube-cache') },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  /** The watch events printed so far that parse (the last one may still be coming). */
  const printed = () =>
    output.split(/\n(?=\{)/).flatMap((chunk) => {
      try {
        return [JSON.parse(chunk) as Json];
      } catch {
        return [];
      }
    });
  try {
    // The watch has started once it printed the Events already there (the guide's, in default).
    t.true(await eventually(() => printed().length > 0, 30_000), output);
    const watched = `apiVersion: v1
kind: Event
metadata: {name: watched.1, namespace: team-events}
involvedObject: {kind: ConfigMap, name: watched, namespace: team-events}
reason: Watched
message: seen by the watch
type: Normal
`;
    t.is((await local.kubectl(['create', '-f', '-'], watched)).code, 0);
    const added = () => printed().find((e) => e.object?.metadata?.name === 'watched.1');
    t.true(await eventually(() => added() !== undefined, 30_000), output);
    t.like(added(), {
      type: 'ADDED',
      object: { apiVersion: 'events.k8s.io/v1', note: 'seen by the watch', regarding: { name: 'watched' } },
    });
  } finally {
    child.kill();
  }
});

test('a create through events.k8s.io/v1 is validated as kube-apiserver validates it', async (t) => {
  const incomplete = `apiVersion: events.k8s.io/v1
kind: Event
metadata: {name: incomplete.1, namespace: team-events}
eventTime: "2026-12-05T01:02:03.123456Z"
type: Info
regarding: {kind: ConfigMap, name: settings, namespace: team-events}
`;
  const refused = await local.kubectl(['create', '-f', '-'], incomplete);
  t.is(refused.code, 1);
  for (const line of [
    '* reportingController: Required value',
    '* reportingInstance: Required value',
    '* action: Required value',
    '* reason: Required value',
    '* type: Invalid value: "": has invalid value: Info',
  ])
    t.true(refused.stderr.includes(line), `${line}\n${refused.stderr}`);
  const coreOnly = await local.kubectl(
    ['create', '-f', '-'],
    newEvent('core-only.1', 'deprecatedCount: 2\ndeprecatedSource: {component: x}\n'),
  );
  t.regex(coreOnly.stderr, /count: Invalid value: "": needs to be unset/);
  t.regex(coreOnly.stderr, /source: Invalid value: "": needs to be unset/);
  const unknown = await local.kubectl(['create', '-f', '-'], newEvent('unknown.1', 'message: a core field\n'));
  t.regex(unknown.stderr, /strict decoding error: unknown field "message"/);
  t.is((await local.kubectl(['get', 'events', '-n', 'team-events', 'incomplete.1'])).code, 1, 'nothing stored');
});

test('an update through events.k8s.io/v1: the series may grow (a strategic merge patch, as a recorder sends), the rest is immutable', async (t) => {
  t.is((await local.kubectl(['create', '-f', '-'], newEvent('series.1'))).code, 0);
  const series = { series: { count: 2, lastObservedTime: '2026-12-05T01:10:00.000000Z' } };
  const grown = await local.kubectl(['patch', v1, '-n', 'team-events', 'series.1', '-p', JSON.stringify(series)]);
  t.is(grown.code, 0, grown.stderr);
  t.deepEqual((await json(['get', 'events', '-n', 'team-events', 'series.1'])).series, series.series);
  const edited = await local.kubectl(['patch', v1, '-n', 'team-events', 'series.1', '-p', '{"note":"rewritten"}']);
  t.regex(edited.stderr, /message: Invalid value: "rewritten": field is immutable/);
});

test('kubectl explain reads the events.k8s.io/v1 schema', async (t) => {
  const event = await local.kubectl(['explain', 'events', '--api-version=events.k8s.io/v1']);
  t.is(event.code, 0, event.stderr);
  t.regex(event.stdout, /GROUP:\s+events\.k8s\.io/);
  t.regex(event.stdout, /eventTime\s+<string> -required-/);
  t.regex(event.stdout, /regarding\s+<ObjectReference>/);
  const regarding = await local.kubectl(['explain', 'events.regarding', '--api-version=events.k8s.io/v1']);
  t.regex(regarding.stdout, /FIELD: regarding <ObjectReference>/);
  t.regex(regarding.stdout, /resourceVersion\s+<string>/);
});
