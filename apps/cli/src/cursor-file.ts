import {
  accessSync,
  closeSync,
  constants,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A --cursor-file the CLI cannot use; the message names the flag. */
export class CursorFileError extends Error {}

/**
 * The feed cursor kept in a file between runs. Each save writes a temporary file in the same folder,
 * flushes it to disk and renames it over the file, so the file always holds a whole cursor, the
 * last one saved or the one before it, whenever the process is stopped or killed.
 */
export class CursorFile {
  private readonly temporary: string;

  constructor(private readonly path: string) {
    this.temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  }

  /** The stored cursor; '' (the oldest event kept) when the file does not exist yet. */
  load(): string {
    try {
      accessSync(dirname(this.path), constants.W_OK);
      return readFileSync(this.path, 'utf8').trim();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && (error as NodeJS.ErrnoException).path === this.path) return '';
      throw new CursorFileError(`--cursor-file: cannot use ${this.path} (${code ?? String(error)})`);
    }
  }

  save(cursor: string): void {
    const descriptor = openSync(this.temporary, 'w');
    try {
      writeSync(descriptor, `${cursor}\n`);
      fsyncSync(descriptor);
    } finally {
      closeSync(descriptor);
    }
    renameSync(this.temporary, this.path);
  }
}
