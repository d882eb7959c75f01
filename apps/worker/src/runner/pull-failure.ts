/** Why a pull failed, in the three cases a person acts on differently. */
export type PullFailureKind = 'auth' | 'not-found' | 'network';

// The registry's and the daemon's own words (Docker Engine, distribution/registry), most specific first.
const RULES: [PullFailureKind, RegExp][] = [
  ['auth', /no basic auth credentials|unauthorized|authentication required|incorrect username or password|denied: requested access|access to the resource is denied/i],
  ['not-found', /manifest unknown|not found|repository does not exist|pull access denied|name unknown|no such image/i],
  ['network', /connection refused|no such host|i\/o timeout|dial tcp|tls handshake|server gave http response to https client|network is unreachable|connection reset|did not finish within|context deadline exceeded|eof$/i],
];

const LABEL: Record<PullFailureKind, string> = {
  auth: 'auth (the registry refused the credentials: none given, or wrong)',
  'not-found': 'not found (no such image or tag, or hidden from these credentials)',
  network: 'network (the registry could not be reached)',
};

/** The kind of a failed pull from the daemon's message; undefined when it says nothing we recognise. */
export function pullFailureKind(message: string): PullFailureKind | undefined {
  return RULES.find(([, pattern]) => pattern.test(message))?.[0];
}

/** The daemon's message (which names the image or registry), prefixed with the kind of failure: the job's reason after "CannotPullContainerError: ". */
export function describePullFailure(message: string): string {
  const kind = pullFailureKind(message);
  return kind ? `${LABEL[kind]}: ${message}` : message;
}
