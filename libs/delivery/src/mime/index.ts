export * from './mime-renderer';
