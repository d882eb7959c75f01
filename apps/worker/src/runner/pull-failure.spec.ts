import { describePullFailure, pullFailureKind } from './pull-failure.js';

describe('pull failures', () => {
  it.each([
    ['Head "http://127.0.0.1:5000/v2/team/app/manifests/1": no basic auth credentials', 'auth'],
    ['unauthorized: authentication required', 'auth'],
    ['Get "https://127.0.0.1:5000/v2/": http: server gave HTTP response to HTTPS client', 'network'],
    ['manifest for 127.0.0.1:5000/team/app:9 not found: manifest unknown: manifest unknown', 'not-found'],
    ["pull access denied for nosuch, repository does not exist or may require 'docker login'", 'not-found'],
    ['Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused', 'network'],
    ['Get "https://registry.invalid/v2/": dial tcp: lookup registry.invalid: no such host', 'network'],
    ['pulling x did not finish within 600000 ms', 'network'],
    ['something else entirely', undefined],
  ])('reads %j as %s', (message, kind) => {
    expect(pullFailureKind(message)).toBe(kind);
  });

  it("puts the kind first, then the daemon's words", () => {
    expect(describePullFailure('Head "http://r:5000/v2/a/manifests/1": no basic auth credentials'))
      .toBe('auth (the registry refused the credentials: none given, or wrong): Head "http://r:5000/v2/a/manifests/1": no basic auth credentials');
    expect(describePullFailure('odd')).toBe('odd');
  });
});
