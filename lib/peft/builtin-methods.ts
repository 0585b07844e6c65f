/** The PEFT methods this kit implements, registered by peftType. A new method is one more line here. */
import { loraMethod } from "./lora/method";
import { registerPeftMethod } from "./registry";
import { vbloraMethod } from "./vblora/method";
import { waveftMethod } from "./waveft/method";

registerPeftMethod(loraMethod);
registerPeftMethod(vbloraMethod);
registerPeftMethod(waveftMethod);
