# Regenerates sentencepiece-decode.json: random id sequences and SentencePiece's own decoding of them.
# Needs python3-sentencepiece (Debian); the tests only read the JSON. Run: /usr/bin/python3 make_decode_fixtures.py
import json, random
import sentencepiece as spm

sp = spm.SentencePieceProcessor(model_file="tiny7.tokenizer.model")  # model create --preset tiny --seed 7
n = sp.get_piece_size()
byte_id = {sp.id_to_piece(i): i for i in range(n) if sp.is_byte(i)}
control = [i for i in range(n) if sp.is_control(i) or sp.is_unknown(i)]
space = [i for i in range(n) if sp.id_to_piece(i).startswith("\u2581")]
other = [i for i in range(n) if i not in control and not sp.is_byte(i) and i not in space]
rng = random.Random(7)

def utf8_bytes():
    ch = rng.choice(["é", "✓", "😀", "ß", "中", "\n", " ", "^", "\t", "\u0000"])
    data = ch.encode("utf-8")
    if rng.random() < 0.2: data = data[: rng.randint(1, len(data))]  # truncated sequence
    return [byte_id["<0x%02X>" % b] for b in data]

def draw():
    r = rng.random()
    if r < 0.3: return [rng.choice(space)]
    if r < 0.6: return [rng.choice(other)]
    if r < 0.75: return utf8_bytes()
    if r < 0.85: return [byte_id["<0x%02X>" % rng.randrange(256)]]
    return [rng.choice(control)]

cases = []
for _ in range(500):
    ids = []
    for _ in range(rng.randint(0, 12)): ids += draw()
    cases.append({"ids": ids, "text": sp.decode(ids)})
with open("sentencepiece-decode.json", "w", encoding="utf-8") as f:
    json.dump({"model": "tiny7.tokenizer.model", "cases": cases}, f, ensure_ascii=True, separators=(",", ":"))
