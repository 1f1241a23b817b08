export { MT19937 } from './mt19937.js';
export { TorchGenerator, seedLow32, type TorchSeed } from './torch_generator.js';
export { uniformFloat, uniformDouble } from './normal.js';
