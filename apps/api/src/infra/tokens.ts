/** Injection tokens for infrastructure that is not a class of ours. */
export const REDIS = Symbol('REDIS');
export const LOGGER = Symbol('LOGGER');
export const API_CONFIG = Symbol('API_CONFIG');
