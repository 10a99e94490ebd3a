// client-node makes a new https.Agent for every request, so every call to kube-apiserver opened a TLS connection
// of its own: a secure context and a handshake each, on both sides (about 2 ms of this server's CPU a write, for
// its Event alone). This KubeConfig gives the requests of the API clients it makes one kept-alive agent per set
// of TLS options instead. Watches keep their own long-lived connections.
import { createHash } from 'node:crypto';
import https from 'node:https';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';

/** An idle connection is closed before kube-apiserver would close it (90 s), so that no request meets a closing one. */
const idleMs = 30_000;
/** TLS options change only when credentials rotate: a few sets at most are kept. */
const agentsKept = 4;

export class KeptAliveKubeConfig extends KubeConfig {
  private readonly agents = new Map<string, https.Agent>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getAgent();
    // A proxy's agent, or plain HTTP, stays as client-node made it.
    if (made?.constructor === https.Agent) context.setAgent(this.keptFor(made as https.Agent));
  }

  private keptFor(made: https.Agent): https.Agent {
    const { ca, cert, key, pfx, passphrase, rejectUnauthorized, servername } = made.options;
    const id = createHash('sha256')
      .update(
        JSON.stringify([ca, cert, key, pfx, passphrase, rejectUnauthorized, servername].map((v) => (v === undefined ? null : String(v)))),
      )
      .digest('hex');
    let agent = this.agents.get(id);
    if (agent) return agent;
    // A set replaced by rotated credentials is let go: its requests finish, its idle connections time out.
    if (this.agents.size >= agentsKept) this.agents.delete(this.agents.keys().next().value!);
    agent = new https.Agent({ ...made.options, keepAlive: true, timeout: idleMs });
    this.agents.set(id, agent);
    return agent;
  }
}
