/**
 * The checksum schema_migrations keeps of each applied migration: sha256 of the file's text. Line endings are
 * read as "\n" first, so a checkout that writes "\r\n" (git's autocrlf) holds the same migration, not an edited one.
 */
import { createHash } from 'node:crypto';

export function migrationChecksum(text: string): string {
  return createHash('sha256').update(text.replaceAll('\r\n', '\n')).digest('hex');
}
