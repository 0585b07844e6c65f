/**
 * Tests of the real datasets (datasets/), their loader (lib/data/datasets.ts),
 * the DataFrame view (lib/data/dataframe.ts) and a few helpers of the script
 * that prepares them (scripts/prepare-datasets.ts).
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DATASET_NAMES, SPLITS, datasetsRoot, labelIds, labelNames, loadSplit, loadTextCorpus, type DatasetName, type Example } from "../../lib/data/datasets";
import { toDataFrame } from "../../lib/data/dataframe";
import { mulberry32, parseSynset } from "../../scripts/prepare-datasets";

/** All three splits of a dataset, loaded once. */
function loadAll(name: DatasetName): Record<string, Example[]> {
  return Object.fromEntries(SPLITS.map((s) => [s, loadSplit(name, s)]));
}

describe("datasets", () => {
  const data = { spam: loadAll("spam"), wordnet: loadAll("wordnet") };
  const total = (name: DatasetName) => SPLITS.reduce((n, s) => n + data[name][s].length, 0);

  it("spam has ≥ 5,000 mails and both labels in every split", () => {
    assert.ok(total("spam") >= 5000, `only ${total("spam")} mails`);
    assert.deepEqual(labelNames("spam"), ["ham", "spam"]);
    for (const split of SPLITS) {
      const labels = new Set(data.spam[split].map((e) => e.label));
      assert.deepEqual([...labels].sort(), ["ham", "spam"], split);
    }
    assert.ok(data.spam.train.every((e) => e.text.startsWith("Subject: ")));
    assert.ok(data.spam.train.every((e) => typeof e.source === "string" && e.text.length <= 400));
  });

  it("wordnet has ≥ 20,000 examples and ≥ 40 labels", () => {
    assert.ok(total("wordnet") >= 20000, `only ${total("wordnet")} examples`);
    const labels = new Set(data.wordnet.train.map((e) => e.label));
    assert.ok(labels.size >= 40, `only ${labels.size} labels`);
    assert.ok(data.wordnet.train.every((e) => e.text !== "" && typeof e.lemma === "string"));
  });

  for (const name of DATASET_NAMES) {
    it(`${name}: splits are disjoint and hold no duplicate texts`, () => {
      const seen = new Map<string, string>();
      for (const split of SPLITS) {
        for (const ex of data[name][split]) {
          const other = seen.get(ex.text);
          assert.equal(other, undefined, `"${ex.text.slice(0, 60)}" is in ${other} and ${split}`);
          seen.set(ex.text, split);
        }
      }
    });

    it(`${name}: every label is in labels.json and splits are ~80/10/10`, () => {
      const names = labelNames(name);
      for (const split of SPLITS) {
        const ids = labelIds(data[name][split], names);
        assert.equal(ids.length, data[name][split].length);
        assert.ok(ids.every((id) => id >= 0 && id < names.length));
      }
      const n = total(name);
      assert.ok(Math.abs(data[name].train.length / n - 0.8) < 0.01);
      assert.ok(Math.abs(data[name].test.length / n - 0.1) < 0.01);
    });

    it(`${name}: stats.json matches the files`, () => {
      const stats = JSON.parse(fs.readFileSync(path.join(datasetsRoot(), name, "stats.json"), "utf8")) as {
        total: number;
        splits: Record<string, { total: number; labels: Record<string, number> }>;
      };
      assert.equal(stats.total, total(name));
      for (const split of SPLITS) {
        assert.equal(stats.splits[split].total, data[name][split].length);
        const counts: Record<string, number> = {};
        for (const ex of data[name][split]) counts[ex.label] = (counts[ex.label] ?? 0) + 1;
        for (const [label, count] of Object.entries(stats.splits[split].labels)) {
          assert.equal(counts[label] ?? 0, count, `${split}/${label}`);
        }
      }
    });
  }

  it("limit, loadTextCorpus and labelIds", () => {
    assert.equal(loadSplit("spam", "test", { limit: 7 }).length, 7);
    const corpus = loadTextCorpus({ splits: ["validation"] });
    assert.equal(corpus.length, data.spam.validation.length + data.wordnet.validation.length);
    assert.ok(corpus.every((t) => typeof t === "string"));
    assert.equal(loadTextCorpus({ names: ["wordnet"], limit: 3 }).length, 3);
    const ids = labelIds(
      [
        { text: "x", label: "spam" },
        { text: "y", label: "ham" },
      ],
      ["ham", "spam"],
    );
    assert.deepEqual([...ids], [1, 0]);
    assert.throws(() => labelIds([{ text: "x", label: "eggs" }], ["ham", "spam"]), /Unknown label "eggs"/);
  });

  describe("errors", () => {
    let tmp = "";
    before(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), "coursekit-datasets-"));
      fs.mkdirSync(path.join(tmp, "spam"));
      const good = JSON.stringify({ text: "Subject: hi\nhello", label: "ham" });
      fs.writeFileSync(path.join(tmp, "spam", "train.jsonl"), `${good}\n{"text": "oops", "label"\n`);
      fs.writeFileSync(path.join(tmp, "spam", "validation.jsonl"), `${good}\n${good}\n{"text": 3, "label": "ham"}\n`);
    });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("a corrupt line names the file and line and how to regenerate", () => {
      const file = path.join(tmp, "spam", "train.jsonl");
      assert.throws(
        () => loadSplit("spam", "train", { root: tmp }),
        (err: Error) => err.message.includes(`${file}:2`) && err.message.includes("npm run prepare-data"),
      );
      assert.throws(() => loadSplit("spam", "validation", { root: tmp }), /validation\.jsonl:3: field "text"/);
      assert.equal(loadSplit("spam", "train", { root: tmp, limit: 1 }).length, 1); // stops before the bad line
    });

    it("a missing file names the file and how to regenerate", () => {
      assert.throws(() => loadSplit("wordnet", "test", { root: tmp }), /wordnet[/\\]test\.jsonl.*npm run prepare-data/);
      assert.throws(() => labelNames("spam", { root: tmp }), /labels\.json.*npm run prepare-data/);
    });

    it("COURSEKIT_DATASETS overrides the default folder", () => {
      const saved = process.env.COURSEKIT_DATASETS;
      process.env.COURSEKIT_DATASETS = tmp;
      try {
        assert.equal(datasetsRoot(), path.resolve(tmp));
        assert.throws(() => loadSplit("spam", "train"), /train\.jsonl:2/);
      } finally {
        if (saved === undefined) delete process.env.COURSEKIT_DATASETS;
        else process.env.COURSEKIT_DATASETS = saved;
      }
    });
  });

  it("toDataFrame has one row per example and the expected columns", () => {
    const examples = data.spam.validation;
    const df = toDataFrame(examples, { labelNames: labelNames("spam") });
    assert.deepEqual(df.shape, [examples.length, 4]);
    assert.deepEqual(df.columns, ["text", "label", "source", "label_id"]);
    const wn = toDataFrame(data.wordnet.test.slice(0, 10));
    assert.deepEqual(wn.shape, [10, 3]);
    assert.deepEqual(wn.columns, ["text", "label", "lemma"]);
  });
});

describe("prepare-datasets helpers", () => {
  it("mulberry32 is deterministic and in [0, 1)", () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 100 }, () => a());
    assert.deepEqual(
      xs,
      Array.from({ length: 100 }, () => b()),
    );
    assert.ok(xs.every((x) => x >= 0 && x < 1));
  });

  it("parseSynset reads a wndb(5WN) data line", () => {
    const line =
      "01322604 05 n 02 grey_wolf 0 gray_wolf 0 002 @ 01321230 n 0000 #m 01321579 n 0000 | a wolf with a " +
      'brindled grey coat living in forested northern regions; "here is an example"  ';
    assert.deepEqual(parseSynset(line), {
      text: "a wolf with a brindled grey coat living in forested northern regions",
      label: "noun.animal",
      lemma: "grey wolf",
    });
    assert.equal(parseSynset("00001740 00 s 01 galore(ip) 0 000 | in abundance").lemma, "galore");
  });
});
