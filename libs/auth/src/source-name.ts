/** A source's name: what it is called in keys, logs and metrics. */
export const SOURCE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
