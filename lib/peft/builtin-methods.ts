/**
 * The PEFT methods this kit implements, registered by peftType, and their configurations (what lib/index.ts
 * exports). A new method is one more line in each list here.
 */
import { loraMethod } from "./lora/method";
import { registerPeftMethod } from "./registry";
import { vbloraMethod } from "./vblora/method";
import { waveftMethod } from "./waveft/method";

export { loraConfig, type LoraConfig } from "./lora/config";
export { vbloraConfig, type VBLoRAConfig } from "./vblora/config";
export { waveftConfig, type WaveFTConfig } from "./waveft/config";

let registered = false;

/** Registers the built-in methods (once); the modules that look methods up call it when they load. */
export function registerBuiltinMethods(): void {
  if (registered) return;
  registered = true;
  registerPeftMethod(loraMethod);
  registerPeftMethod(vbloraMethod);
  registerPeftMethod(waveftMethod);
}
