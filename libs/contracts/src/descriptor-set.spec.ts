import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MAIL_GATEWAY_DESCRIPTOR_SET_PATH } from './proto-files';

describe('the compiled contract served by reflection', () => {
  it('is what buf builds from proto/ today (regenerate with `npm run proto:generate`)', () => {
    const root = dirname(require.resolve('../../../package.json'));
    const built = execFileSync(
      join(root, 'node_modules/.bin/buf'),
      ['build', '--as-file-descriptor-set', '-o', '-'],
      { cwd: root, maxBuffer: 16 * 1024 * 1024 },
    );
    expect(built.equals(readFileSync(MAIL_GATEWAY_DESCRIPTOR_SET_PATH))).toBe(true);
  });
});
