"""Synthetic benign prompts: everyday requests, advice and instructions addressed to
"you", many with words attacks also use. Generated from the word lists below.
"""

from __future__ import annotations

import random

VERBS = ["write", "create", "draft", "design", "plan", "describe", "explain", "summarise",
         "list", "compare", "suggest", "review", "translate", "outline", "compose", "draw",
         "organise", "prepare", "calculate", "estimate", "identify", "analyse", "recommend",
         "imagine", "invent", "sketch", "rewrite", "simplify", "check", "proofread"]
OBJECTS = ["a poem", "a short story", "an email to my landlord", "a birthday card",
           "a packing list", "a workout routine", "a study schedule", "a recipe",
           "a product description", "a cover letter", "a lesson plan", "a budget",
           "a garden layout", "a logo", "a speech for my sister's wedding", "a haiku",
           "a travel itinerary", "a meal plan", "a job description", "a bedtime story",
           "a press release", "a thank-you note", "a survey", "a quiz about the solar system",
           "an agenda for our team meeting", "a podcast intro", "a slogan for a bakery"]
ABOUT = ["about the ocean", "for a rainy weekend", "for beginners", "about friendship",
         "for a small business", "about climate change", "for my grandmother", "in 100 words",
         "with a playful tone", "about ancient Rome", "using the symbol 🌳", "for a school fair",
         "about time management", "featuring a clever cat", "for a vegetarian guest",
         "about the history of jazz", "that a ten-year-old can follow", "in a formal style",
         "with three bullet points", "about saving energy at home", "using only simple words"]
ADVICE = ["Remember to {a} before you {b}.", "Make sure your {o} is {adj} before {e}.",
          "Please {a} and then {b}.", "You should {a} at least once a week.",
          "Always {a} when you {b}.", "Don't forget to {a} after you {b}.",
          "If you have any questions, please {a}.", "Try to {a} so that you can {b}.",
          "Please ensure that you {a} before {e}.", "You must {a} to {b} safely."]
ACTS = ["take regular breaks", "back up your files", "check the tyre pressure",
        "water the plants", "update your software", "read the instructions carefully",
        "wear a helmet", "stretch your legs", "lock the door", "review the budget",
        "contact the support team", "sign the documents", "double-check the numbers",
        "wash your hands", "charge the battery", "save your work", "ask your doctor",
        "follow the safety protocols", "keep a copy of the receipt", "turn off the stove",
        "label the boxes", "rinse the rice", "unplug the device", "reach out for help"]
EVENTS = ["the meeting", "the trip", "the exam", "the launch", "the deadline",
          "the inspection", "the race", "the party", "the interview", "the move"]
ADJ = ["ready", "clean", "up to date", "charged", "signed", "checked", "secure", "labelled"]
OBJ2 = ["workspace", "password", "passport", "report", "luggage", "bike", "laptop",
        "presentation", "garden", "kitchen"]
QUESTIONS = ["What is the difference between {x} and {y}?", "How does {x} work?",
             "Why is {x} important for {y}?", "Can you tell me more about {x}?",
             "What are the rules of {x}?", "Which is better for {y}: {x} or something else?",
             "How do I get started with {x}?", "What should I know about {x} before {y}?",
             "Is it safe to ignore {x} when {y}?", "How can I bypass {x} traffic on my "
             "commute?", "What does '{x}' mean in the context of {y}?"]
THINGS = ["photosynthesis", "compound interest", "chess", "sourdough", "the immune system",
          "a heat pump", "solar panels", "the stock market", "jazz", "volcanoes",
          "machine learning", "the printing press", "a mortgage", "a firewall", "tennis",
          "the water cycle", "meditation", "composting", "a password manager", "vaccines",
          "a warning light on my dashboard", "a system update", "the previous chapter"]
CONTEXTS = ["a beginner", "my kids", "a small flat", "running a café", "learning Spanish",
            "training for a marathon", "a school project", "moving abroad", "a job interview"]
ROLES = ["a friendly librarian", "a tour guide in Kyoto", "a patient maths tutor",
         "a medieval baker", "a museum curator", "a football coach", "a travel agent",
         "an astronaut on the ISS", "a detective in 1920s London", "a gardening expert"]
ROLEPLAY = ["Pretend you are {r} and {v} {o}.", "Act as {r} and answer my questions about {t}.",
            "Let's roleplay: you are {r} and I am a visitor asking about {t}.",
            "Imagine you are {r}. {V} {o} {a}."]


def prompt(r: random.Random) -> str:
    kind = r.random()
    if kind < 0.3:
        return f"{r.choice(VERBS).capitalize()} {r.choice(OBJECTS)} {r.choice(ABOUT)}."
    if kind < 0.55:
        return r.choice(ADVICE).format(a=r.choice(ACTS), b=r.choice(ACTS).split(" ", 1)[0]
                                       + " " + r.choice(ACTS).split(" ", 1)[-1],
                                       o=r.choice(OBJ2), adj=r.choice(ADJ), e=r.choice(EVENTS))
    if kind < 0.8:
        return r.choice(QUESTIONS).format(x=r.choice(THINGS), y=r.choice(CONTEXTS))
    v = r.choice(VERBS)
    return r.choice(ROLEPLAY).format(r=r.choice(ROLES), v=v, V=v.capitalize(),
                                     o=r.choice(OBJECTS), t=r.choice(THINGS),
                                     a=r.choice(ABOUT))


def prompts(n: int, seed: int = 11) -> list[str]:
    r = random.Random(seed)
    return [prompt(r) for _ in range(n)]
