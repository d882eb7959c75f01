import { LocalCluster, type AppName, type ClusterProcess } from '../../../scripts/lib/local-cluster.js';

export interface Slot {
  name: string;
  app: AppName;
  env: Record<string, string>;
  proc: ClusterProcess | undefined;
  /** Set while the suite has killed it on purpose: the watchdog leaves it down. */
  held: boolean;
  /** Lease holder id this scheduler logged when it last became leader. */
  holderId?: string;
}

export interface UnexpectedExit { name: string; at: number; code: number | null; signal: string | null; tail: string }

/**
 * The built apps as child processes (through scripts/lib/local-cluster.ts),
 * one slot per role so a killed process can be started again with the same
 * identity. A process that dies without the suite killing it is recorded and
 * restarted after a second, as a service manager would.
 */
export class FaultCluster {
  readonly local: LocalCluster;
  readonly slots = new Map<string, Slot>();
  readonly unexpectedExits: UnexpectedExit[] = [];
  private stopping = false;

  constructor(baseEnv: Record<string, string>, readonly apiBase: string) {
    this.local = new LocalCluster(baseEnv);
  }

  add(name: string, app: AppName, env: Record<string, string>): Slot {
    const slot: Slot = { name, app, env, proc: undefined, held: false };
    this.slots.set(name, slot);
    return slot;
  }

  slot(name: string): Slot {
    const s = this.slots.get(name);
    if (!s) throw new Error(`no slot ${name}`);
    return s;
  }

  start(name: string): ClusterProcess {
    const slot = this.slot(name);
    slot.held = false;
    const proc = this.local.start(slot.app, slot.env, name);
    slot.proc = proc;
    slot.holderId = undefined;
    let pending = '';
    proc.child.stdout!.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.includes('became scheduler leader')) continue;
        try {
          slot.holderId = JSON.parse(line).holderId;
        } catch { /* not JSON */ }
      }
    });
    proc.child.on('exit', (code, signal) => {
      if (this.stopping || slot.held || slot.proc !== proc) return;
      this.unexpectedExits.push({ name, at: Date.now(), code, signal, tail: proc.output.join('').slice(-2000) });
      setTimeout(() => { if (!this.stopping && !slot.held && slot.proc === proc) this.start(name); }, 1000);
    });
    return proc;
  }

  alive(name: string): boolean {
    const p = this.slot(name).proc;
    return !!p && p.child.exitCode === null && p.child.signalCode === null;
  }

  /** SIGKILL; the slot stays down until restart(). */
  async kill(name: string): Promise<void> {
    const slot = this.slot(name);
    slot.held = true;
    const proc = slot.proc;
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
  }

  async restart(name: string): Promise<void> {
    const proc = this.start(name);
    if (this.slot(name).app === 'api') await LocalCluster.waitForHttp(`${this.apiBase}/health/ready`, proc, 120_000);
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots.values()) slot.held = true;
    // SIGTERM lets workers drain; anything still up after the timeout is SIGKILLed by LocalCluster.
    await this.local.stop(20_000);
  }
}
