import { z } from 'zod';
import { defineConfig } from './config-slice';
import { ConfigurationException } from './configuration.exception';
import { LoadedConfig, loadConfigSlice } from './loaded-config';
import { integer, setting } from './setting';

const listener = defineConfig({
  name: 'listener',
  settings: {
    PORT: setting({ description: 'port', schema: integer(0, 65535).default(8080) }),
    PASSWORD: setting({ description: 'secret', schema: z.string().min(8).optional(), sensitive: true }),
  },
  build: (values) => ({ port: values.PORT, password: values.PASSWORD }),
});

const limits = defineConfig({
  name: 'limits',
  settings: {
    LOW: setting({ description: 'low', schema: integer(0, 100).default(1) }),
    HIGH: setting({ description: 'high', schema: integer(0, 100).default(10) }),
  },
  build: (values) => ({ low: values.LOW, high: values.HIGH }),
  check: (values, catalog) => [
    ...(values.LOW > values.HIGH ? ['LOW: must not exceed HIGH'] : []),
    ...(catalog.get('PORT')?.value === 0 ? ['PORT: seen from another slice'] : []),
  ],
});

const problemsOf = (env: NodeJS.ProcessEnv): readonly string[] => {
  try {
    LoadedConfig.load([listener, limits], env);
  } catch (error) {
    if (error instanceof ConfigurationException) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigurationException');
};

describe(LoadedConfig.name, () => {
  it('builds each slice from its own settings, defaults filled in', () => {
    const sut = LoadedConfig.load([listener, limits], { HIGH: '20' });
    expect(sut.get(listener)).toEqual({ port: 8080, password: undefined });
    expect(sut.get(limits)).toEqual({ low: 1, high: 20 });
  });

  it('treats an empty variable as unset', () => {
    expect(LoadedConfig.load([listener], { PORT: '' }).get(listener).port).toBe(8080);
  });

  it('names every bad variable of every slice, with the value it got', () => {
    expect(problemsOf({ PORT: '70000', LOW: 'x' })).toEqual([
      expect.stringMatching(/^PORT: .*\(got "70000"\)$/),
      expect.stringMatching(/^LOW: .*\(got "x"\)$/),
    ]);
  });

  it('never prints the value of a sensitive variable', () => {
    const problems = problemsOf({ PASSWORD: 'short' });
    expect(problems).toEqual([expect.stringMatching(/^PASSWORD: /)]);
    expect(problems.join('\n')).not.toContain('short');
  });

  it('runs the checks of settings that depend on each other, across slices', () => {
    expect(problemsOf({ LOW: '50', HIGH: '5', PORT: '0' })).toEqual([
      'LOW: must not exceed HIGH',
      'PORT: seen from another slice',
    ]);
  });

  it('refuses two slices declaring one variable, and a slice it did not load', () => {
    const again = defineConfig({ name: 'again', settings: listener.settings, build: () => ({}) });
    expect(() => LoadedConfig.load([listener, again], {})).toThrow('PORT is declared by two config slices');
    expect(() => LoadedConfig.load([listener], {}).get(limits)).toThrow(
      'config slice "limits" was not loaded',
    );
  });

  it('provides each slice under its own token', () => {
    const providers = LoadedConfig.load([listener, limits], {}).providers();
    expect(providers).toEqual([
      { provide: listener.token, useValue: { port: 8080, password: undefined } },
      { provide: limits.token, useValue: { low: 1, high: 10 } },
    ]);
  });

  it('loads one slice on its own, checks included', () => {
    expect(loadConfigSlice(limits, { LOW: '3' })).toEqual({ low: 3, high: 10 });
    expect(() => loadConfigSlice(limits, { LOW: '30', HIGH: '3' })).toThrow(ConfigurationException);
  });
});
