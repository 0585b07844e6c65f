/** The PEFT methods this kit implements, registered by peftType. A new method is one more line here. */
import { loraMethod } from "./lora/method";
import { registerPeftMethod } from "./registry";
import { vbloraMethod } from "./vblora/method";
import { waveftMethod } from "./waveft/method";

let registered = false;

/** Registers the built-in methods (once); the modules that look methods up call it when they load. */
export function registerBuiltinMethods(): void {
  if (registered) return;
  registered = true;
  registerPeftMethod(loraMethod);
  registerPeftMethod(vbloraMethod);
  registerPeftMethod(waveftMethod);
}
