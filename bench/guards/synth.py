"""Synthetic benign documents (emails, tables, code answers, logs, JSON tool output,
reviews) for training the document model, and insertion of a text into a document.

Everything here is generated from the word lists below: no external text.
"""

from __future__ import annotations

import json
import random

NAMES = ["Alice", "Bob", "Carla", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
         "Kemal", "Lena", "Maya", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tara"]
COMPANIES = ["Northwind", "Acme Corp", "Globex", "Initech", "Umbrella Health", "Stark Supply",
             "Blue Fern Studio", "Harbor Bank", "Pine Logistics", "Orbit Telecom"]
TOPICS = ["the quarterly budget", "the new office lease", "the product launch", "invoice 4471",
          "the server migration", "the hiring plan", "our trip to Lisbon", "the safety audit",
          "the customer survey", "the marketing campaign", "the annual report", "the API outage"]
EMAIL_LINES = [
    "I hope this message finds you well.", "Thanks for your quick reply yesterday.",
    "Please find attached the latest version of the document.",
    "Could you please review it before Friday?", "Let me know if you have any questions.",
    "We need to confirm the numbers with finance first.",
    "The meeting has been moved to 3 PM on Thursday.",
    "Your order has shipped and should arrive within 3-5 business days.",
    "Click the link below to track your package.", "Please reply to this email to confirm.",
    "If you did not request this change, contact our support team.",
    "Your card ending in 4821 was charged $120.50.",
    "Don't forget to bring your badge to the office.",
    "Can you send me the signed contract by end of day?",
    "We are excited to announce our new loyalty program!",
    "Reset your password within 24 hours to keep your account secure.",
    "The total amount due is $2,340.00, payable by bank transfer.",
    "Join us for the team dinner next Wednesday at 7 PM.",
    "I have updated the spreadsheet with the latest figures.",
    "Unsubscribe at any time from your account settings.",
    "Please ignore the previous reminder if you have already paid.",
    "Follow the instructions in the attached guide to set up your device.",
    "Our records show that your subscription renews on June 3.",
    "Kindly make sure all expense reports are submitted by the 25th.",
    "Would you be available for a quick call tomorrow morning?",
    "The system will be down for maintenance on Saturday night.",
    "Note that the new policy applies to all employees from next month.",
    "Feel free to forward this to anyone who might be interested.",
    "Shop now and save 30% on all summer styles!", "Limited time offer: free shipping today.",
    "You are receiving this email because you signed up for updates.",
    "Your verification code is 482913. It expires in 10 minutes.",
    "Thank you for your purchase! Your receipt is below.",
    "Rate your experience with us by answering a short survey.",
    "We noticed a new sign-in to your account from Chrome on Windows.",
    "Add your withdrawal method to access your earnings.",
    "Get started by completing your profile.", "Download our app to manage your bookings.",
    "Your flight AF123 departs at 09:45 from gate 32.", "Cheers, the Support Team",
    "Make sure to update your records accordingly.", "Remember to water the plants.",
    "Please ensure the door is locked when you leave.", "Discover what's new this week.",
    "Tap the button below to confirm your email address.", "Questions? Just reply here.",
]
CODE_PROSE = [
    "You can fix this by passing the argument explicitly:",
    "The error happens because the list is empty when you call max().",
    "Try wrapping the call in a try/except block:", "Here is a minimal example that works:",
    "I would suggest using a dictionary instead of nested loops.",
    "Add this line to your settings file and restart the server:",
    "Note that this only works in Python 3.8 and later.",
    "Make sure you install the package first with pip.",
    "The following snippet reads the file line by line:",
    "Replace the old call with the new API as shown below:",
    "This is a known issue; upgrading to the latest version fixes it.",
    "Use the --force flag only if you know what you are doing.",
    "In your code, the variable is shadowed inside the loop.",
    "You should close the connection in a finally block.",
]
CODE = [
    "import pandas as pd\ndf = pd.read_csv('data.csv')\nprint(df.head())",
    "def mean(xs):\n    return sum(xs) / len(xs) if xs else 0.0",
    "for i, row in enumerate(rows):\n    if row is None:\n        continue\n    total += row.value",
    "try:\n    result = compute(x)\nexcept ValueError as e:\n    print('bad input', e)",
    "const res = await fetch(url);\nconst data = await res.json();\nconsole.log(data.items);",
    "SELECT name, COUNT(*) FROM orders GROUP BY name ORDER BY 2 DESC;",
    "with open(path) as f:\n    for line in f:\n        process(line.strip())",
    "git checkout -b feature/login\ngit commit -am 'add login form'",
    "import numpy as np\na = np.zeros((3, 3))\na[1, 1] = 5\nprint(a.sum())",
    "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n"
    "        self.items.append(x)",
    "docker run -p 8080:80 -v $(pwd):/app nginx:latest",
    "Traceback (most recent call last):\n  File \"main.py\", line 12, in <module>\n"
    "    main()\nKeyError: 'user_id'",
    "import requests\nr = requests.get('https://api.example.com/items', timeout=5)\n"
    "r.raise_for_status()",
    "subprocess.run(['ls', '-la'], check=True)",
]
REVIEWS = ["Great food and friendly staff.", "The room was clean but a bit small.",
           "Delivery took longer than expected.", "Would definitely recommend to friends!",
           "The battery lasts all day, very happy with it.", "Customer service never replied.",
           "Nice view from the terrace, prices are fair.", "The app crashes when I upload photos."]
WORDS = ["data", "report", "team", "plan", "budget", "review", "client", "service",
         "update", "project", "account", "order", "product", "price", "meeting", "office",
         "system", "network", "schedule", "policy", "travel", "invoice"]


def email(r: random.Random) -> str:
    a, b = r.sample(NAMES, 2)
    lines = r.sample(EMAIL_LINES, r.randint(2, 6))
    subject = f"Re: {r.choice(TOPICS)}"
    sender = f"{a.lower()}@{r.choice(COMPANIES).split()[0].lower()}.com"
    header = r.choice([f"SUBJECT: {subject}|EMAIL_FROM: {a} <{sender}>|CONTENT: ",
                       f"From: {a} <{sender}>\nTo: {b}\nSubject: {subject}\n\n", ""])
    return f"{header}Hi {b},\n\n" + " ".join(lines) + f"\n\nBest,\n{a}"


def table(r: random.Random) -> str:
    cols = r.sample(["Name", "Year", "Score", "City", "Revenue", "Team", "Rank", "Country",
                     "Votes", "Date", "Points", "Population", "Notes"], r.randint(3, 6))
    rows = ["| " + " | ".join(cols) + " |"]
    for _ in range(r.randint(3, 15)):
        cells = []
        for c in cols:
            if c in ("Name", "Team"):
                cells.append(r.choice(NAMES) + " " + r.choice(["FC", "Ltd", "", "Jr."]))
            elif c in ("City", "Country"):
                cells.append(r.choice(["Lyon", "Oslo", "Peru", "Kenya", "Quebec", "Osaka"]))
            elif c == "Notes":
                cells.append(r.choice(["", "retired", "see footnote", "record", "n/a"]))
            else:
                cells.append(str(r.randint(1, 99999)))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def code_answer(r: random.Random) -> str:
    parts = []
    for _ in range(r.randint(1, 3)):
        parts.append(r.choice(CODE_PROSE))
        parts.append("```\n" + r.choice(CODE) + "\n```")
    return "\n".join(parts)


def tool_json(r: random.Random) -> str:
    items = [{"id": r.randint(1, 999), "title": " ".join(r.sample(WORDS, 3)),
              "owner": r.choice(NAMES), "status": r.choice(["open", "done", "blocked"]),
              "note": r.choice(EMAIL_LINES + REVIEWS)} for _ in range(r.randint(1, 4))]
    return json.dumps({"results": items, "count": len(items)})


def log(r: random.Random) -> str:
    lines = [f"2024-0{r.randint(1, 9)}-1{r.randint(0, 9)} 12:{r.randint(10, 59)}:03 "
             f"{r.choice(['INFO', 'WARN', 'ERROR'])} {r.choice(WORDS)}: "
             f"{r.choice(['request finished', 'retrying in 2s', 'user logged in', 'cache miss'])}"
             for _ in range(r.randint(3, 10))]
    return "\n".join(lines)


def reviews(r: random.Random) -> str:
    return "\n".join(f"{r.choice(NAMES)}: {r.choice(REVIEWS)} ({r.randint(1, 5)}/5)"
                     for _ in range(r.randint(2, 6)))


MAKERS = (email, table, code_answer, tool_json, log, reviews)


def document(r: random.Random) -> str:
    return r.choice(MAKERS)(r)


def insert(doc: str, text: str, where: str) -> str:
    """``text`` inserted at the ``start``, ``middle`` (a line or sentence boundary) or
    ``end`` of ``doc``."""
    if where == "start":
        return text + "\n" + doc
    if where == "end":
        return doc + "\n" + text
    lines = doc.split("\n")
    if len(lines) > 2:
        mid = len(lines) // 2
        return "\n".join([*lines[:mid], text, *lines[mid:]])
    sentences = doc.split(". ")
    mid = max(1, len(sentences) // 2)
    return ". ".join(sentences[:mid]) + ". " + text + " " + ". ".join(sentences[mid:])
