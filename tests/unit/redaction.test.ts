// No password or session token ever reaches a log line, a batch log or an API shape: the rules of redaction.
// The pool, proxy and session paths that log, against Postgres, are in tests/integration/secrets-in-logs.test.ts.
import { describe, expect, it } from 'vitest';
import { redact, registerSecret, stripCredentials } from '../../src/logging/redact.js';

describe('redact rules', () => {
  it('removes credentials from URLs, cookies, auth headers and secret-named JSON fields', () => {
    expect(redact('via http://user:hunter22@proxy:8080/x')).toBe('via http://***@proxy:8080/x');
    expect(redact('https://token-only@h')).toBe('https://***@h');
    expect(redact('Cookie: sessionid=abc123def; csrftoken=x')).toBe('Cookie: sessionid=***; csrftoken=x');
    expect(redact('Proxy-Authorization: Basic dXNlcjpwYXNz')).toBe('Proxy-Authorization: Basic ***');
    expect(redact('authorization: Bearer eyJhbGciOi')).toBe('authorization: Bearer ***');
    // a shell variable standing for the key is kept, so printed commands still work when pasted
    expect(redact('curl -H "Authorization: Bearer $API_KEY" http://x')).toBe('curl -H "Authorization: Bearer $API_KEY" http://x');
    expect(redact('authorization: Bearer $API_KEYabc"')).toBe('authorization: Bearer ***"');
    expect(redact('{"password":"pw","token":"t","session_token":"s","other":"keep"}')).toBe(
      '{"password":"***","token":"***","session_token":"***","other":"keep"}',
    );
  });

  it('removes registered secrets anywhere, ignoring values too short to be safe to replace', () => {
    registerSecret('Registered-Secret-77');
    registerSecret('abc');
    expect(redact('x Registered-Secret-77 y Registered-Secret-77')).toBe('x *** y ***');
    expect(redact('abc stays')).toBe('abc stays');
  });

  it('removes a registered secret holding quotes or backslashes in its raw and JSON-escaped forms', () => {
    const secret = 'Pw"with\\back\'slash';
    registerSecret(secret);
    const line = JSON.stringify({ msg: `proxy said ${secret}`, nested: JSON.stringify({ said: secret }) });
    const out = redact(line);
    expect(out).not.toContain(secret);
    expect(out).not.toContain(JSON.stringify(secret).slice(1, -1));
    expect(out).not.toMatch(/with|slash/);
    expect(JSON.parse(out)).toEqual({ msg: 'proxy said ***', nested: '{"said":"***"}' });
    expect(redact(`http://u:${encodeURIComponent(secret)}@h:1`)).toBe('http://***@h:1');
  });

  it('removes the longer of two overlapping secrets whole', () => {
    registerSecret('Overlap-1234');
    registerSecret('Overlap-1234-and-more');
    expect(redact('x Overlap-1234-and-more y')).toBe('x *** y');
  });

  it('keeps secrets of 1 to 3 characters out of credential positions without touching other text', () => {
    for (const short of ['p', 'p"', 'a\\', 'q"w']) {
      registerSecret(short);
      const escaped = JSON.stringify(short).slice(1, -1);
      const logLine = JSON.stringify({
        url: `http://user:${short}@proxy:8080`,
        cookie: `sessionid=${short}; other=1`,
        form: `password=${short}&x=1`,
        headers: { authorization: `Bearer ${short}` },
        password: short,
        token: short,
      });
      const out = redact(logLine);
      const parsed = JSON.parse(out);
      expect(parsed).toEqual({
        url: 'http://***@proxy:8080',
        cookie: 'sessionid=***; other=1',
        form: 'password=***&x=1',
        headers: { authorization: 'Bearer ***' },
        password: '***',
        token: '***',
      });
      expect(out).not.toContain(`${escaped}@`);
    }
    // registered short values stay where they are ordinary text
    expect(redact('a plain sentence with p and q"w in it')).toBe('a plain sentence with p and q"w in it');
  });

  it('strips credentials from a proxy URL', () => {
    expect(stripCredentials('http://u:p@10.0.0.1:3128/')).toBe('http://10.0.0.1:3128');
    expect(stripCredentials('https://h.example')).toBe('https://h.example');
  });
});
