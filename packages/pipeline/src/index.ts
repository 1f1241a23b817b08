export * from './rng';
export * from './schedulers';
