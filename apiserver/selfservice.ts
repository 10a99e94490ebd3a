// What kubectl asks of a whole cluster beside our group, answered by local mode itself (in a cluster,
// kube-apiserver answers it): /version (kubectl version), SelfSubjectAccessReview (kubectl auth can-i),
// SelfSubjectRulesReview (kubectl auth can-i --list) and SelfSubjectReview (kubectl auth whoami). Local mode has
// one user, who may do everything.
import Router from '@koa/router';
import type Koa from 'koa';
import { isObject } from '../lib/guards.ts';
import { rfc3339 } from '../lib/time.ts';
import { invalid } from '../openapi/status.ts';
import type { User } from './authentication.ts';
import { decode, readBody } from './request.ts';

/** The Kubernetes API level served, in kube-apiserver's version.Info shape; the build names this server. */
export const versionInfo = {
  major: '1',
  minor: '34',
  gitVersion: 'v1.34.0+postgres-apiserver',
  gitCommit: '',
  gitTreeState: '',
  buildDate: '',
  goVersion: '',
  compiler: '',
  platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
};

const accessReview = { group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview' };
const rulesReview = { group: 'authorization.k8s.io', resource: 'selfsubjectrulesreviews', kind: 'SelfSubjectRulesReview' };
const subjectReview = { group: 'authentication.k8s.io', resource: 'selfsubjectreviews', kind: 'SelfSubjectReview' };

/** Everything, as kube-apiserver lists cluster-admin's rules. */
const everything = {
  resourceRules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
  nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
  incomplete: false,
};

async function review(ctx: Koa.Context, subject: typeof accessReview): Promise<Record<string, unknown>> {
  const body = decode(await readBody(ctx), ctx.get('content-type'));
  if (!isObject(body)) throw invalid(subject, [{ type: 'FieldValueRequired', field: 'spec', message: 'Required value' }]);
  return body;
}

function answer(ctx: Koa.Context, body: Record<string, unknown>, status: Record<string, unknown>): void {
  ctx.status = 201;
  ctx.type = 'application/json';
  ctx.body = { ...body, metadata: { ...(isObject(body.metadata) ? body.metadata : {}), creationTimestamp: rfc3339() }, status };
}

export function selfServiceRouter(): Router {
  const router = new Router();
  router.get('/version', (ctx) => {
    ctx.type = 'application/json';
    ctx.body = versionInfo;
  });
  router.post(`/apis/${accessReview.group}/v1/${accessReview.resource}`, async (ctx) => {
    const body = await review(ctx, accessReview);
    const spec = isObject(body.spec) ? body.spec : {};
    if (isObject(spec.resourceAttributes) === isObject(spec.nonResourceAttributes)) {
      throw invalid(accessReview, [
        {
          type: 'FieldValueInvalid',
          field: 'spec',
          message: 'Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified',
        },
      ]);
    }
    answer(ctx, body, { allowed: true, reason: 'local mode: its one user may do everything' });
  });
  router.post(`/apis/${rulesReview.group}/v1/${rulesReview.resource}`, async (ctx) => {
    answer(ctx, await review(ctx, rulesReview), everything);
  });
  router.post(`/apis/${subjectReview.group}/v1/${subjectReview.resource}`, async (ctx) => {
    const body = await review(ctx, subjectReview);
    const user = ctx.state.user as User;
    answer(ctx, body, { userInfo: { username: user.name, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups } });
  });
  return router;
}
