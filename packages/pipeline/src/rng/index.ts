export { MT19937 } from './mt19937';
export { TorchGenerator, seedLow32, type TorchSeed } from './torch_generator';
export { uniformFloat, uniformDouble } from './normal';
