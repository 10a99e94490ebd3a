// What kube-apiserver decides for us in cluster mode (K8S-WIRE §7): who holds a token (TokenReview), what a user
// may do (SubjectAccessReview), and whom the front proxy vouches for (authconfig.ts). Only cluster mode loads
// this file, and with it client-node: local mode never needs that library's memory.
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig, type V1UserInfo } from '@kubernetes/client-node';
import type Koa from 'koa';
import { authentication, cachedTokenReview, type User } from './authentication.ts';
import { followAuthenticationConfig, type FollowOptions } from './authconfig.ts';
import { authorization, cachedAccessReview, type AccessReview } from './authorization.ts';
import type { Logger } from '../lib/log.ts';

function userOf(info: V1UserInfo): User {
  const extra = info.extra && Object.keys(info.extra).length > 0 ? { extra: info.extra } : {};
  return { name: info.username ?? '', ...(info.uid ? { uid: info.uid } : {}), groups: info.groups ?? [], ...extra };
}

/** Asks kube-apiserver who holds a token (TokenReview v1), answers kept 10 s. */
export function tokenReviewer(kc: KubeConfig): (token: string) => Promise<User | undefined> {
  const api = kc.makeApiClient(AuthenticationV1Api);
  return cachedTokenReview(async (token) => {
    const { status } = await api.createTokenReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    return status?.authenticated && status.user?.username ? userOf(status.user) : undefined;
  });
}

/**
 * Cluster-mode authentication: trust from ConfigMap kube-system/extension-apiserver-authentication (read now,
 * failing when it cannot be; followed after), tokens by TokenReview. `stop` ends the following.
 */
export async function delegatedAuthentication(
  kc: KubeConfig,
  log: Logger,
  options?: FollowOptions,
): Promise<Koa.Middleware & { stop(): void }> {
  const source = await followAuthenticationConfig(kc, log, options);
  return Object.assign(authentication({ config: source.current, reviewToken: tokenReviewer(kc), log }), { stop: source.stop });
}

/** Asks kube-apiserver (SubjectAccessReview v1), answers kept 10 s. */
export function subjectAccessReviewer(kc: KubeConfig): AccessReview {
  const api = kc.makeApiClient(AuthorizationV1Api);
  return cachedAccessReview(async (spec) => {
    const review = await api.createSubjectAccessReview({
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec },
    });
    return review.status ?? { allowed: false };
  });
}

/** Cluster-mode authorization: every request by SubjectAccessReview, except for members of system:masters. */
export function subjectAccessReviewAuthorization(kc: KubeConfig, log: Logger): Koa.Middleware {
  return authorization({ review: subjectAccessReviewer(kc), log });
}
