/**
 * Which session tokens can be sent at all: the token travels as the value of the `sessionid` cookie, so it must
 * be cookie-octets only (RFC 6265 4.1.1: visible ASCII without space, `"`, `,`, `;` and `\`). A token pasted with a
 * line break or a non-Latin-1 character would be refused by the HTTP client before anything is sent, and the
 * request's profiles would be blamed for it; such a token is refused when it is registered instead.
 */
export const SENDABLE_TOKEN = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+$/;

export const SENDABLE_TOKEN_RULE =
  'token must be sendable as a cookie value: visible ASCII only, without spaces, line breaks, quotes, commas, semicolons or backslashes';

export const isSendableToken = (token: string): boolean => SENDABLE_TOKEN.test(token);
