/**
 * Tokenization for BERT: the basic tokenizer (normalization + pre-tokenization), the WordPiece model, the
 * full {@link BertTokenizer} (load, encode, decode, save) and a WordPiece vocabulary trainer.
 */
export * from "./basic";
export * from "./wordpiece";
export * from "./bert-tokenizer";
export * from "./train-wordpiece";
