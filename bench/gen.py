#!/usr/bin/env python3
"""Inputs for bench/http.sh (Python 3 standard library only).

  gen.py customers N OUT.csv           N generated customers for `kith import customers`
  gen.py ids EXPORT.jsonl OUT.txt      the customer ids of a `kith export`, one a line
  gen.py shopify N SECRET OUT.txt [START]
                                       N signed Shopify orders/create deliveries, numbered
                                       from START (0): a second file from START=N has
                                       deliveries, orders and customers of its own

The Shopify file has one delivery a line, `webhook-id TAB hmac TAB body`: wrk's Lua has no
HMAC, so every request is signed here beforehand. Each delivery has its own webhook id (a
repeated id is answered from the stored delivery without running the plugin), its own order
id and its own customer (id, email and phone), built from the sample payload in
tests/data/commerce/shopify/orders-create.json and sent compact, as Shopify sends it.
"""

import base64
import copy
import hashlib
import hmac
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "tests", "data", "commerce", "shopify", "orders-create.json")

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "John", "Margaret",
         "Ken", "Radia", "Niklaus", "Sophie", "Tim", "Hedy", "Linus"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus",
        "Hamilton", "Thompson", "Perlman", "Wirth", "Wilson", "Berners-Lee", "Lamarr", "Torvalds"]
CITIES = [("GB", "London"), ("US", "Boston"), ("DE", "Berlin"), ("FR", "Paris"),
          ("NL", "Amsterdam"), ("SE", "Stockholm"), ("IT", "Milan"), ("ES", "Madrid")]


def customers(n, out):
    rng = random.Random(42)
    with open(out, "w", encoding="utf-8") as f:
        f.write("first_name,last_name,email,country,city,lifecycle\n")
        for i in range(n):
            country, city = rng.choice(CITIES)
            f.write(f"{rng.choice(FIRST)},{rng.choice(LAST)},bench{i}@example.com,"
                    f"{country},{city},customer\n")


def ids(export, out):
    n = 0
    with open(export, encoding="utf-8") as f, open(out, "w", encoding="utf-8") as o:
        for line in f:
            if line.startswith('{"type":"customer"'):
                o.write(json.loads(line)["id"] + "\n")
                n += 1
    print(f"{n} customer ids", file=sys.stderr)


def shopify(n, secret, out, start=0):
    with open(SAMPLE, encoding="utf-8") as f:
        sample = json.load(f)
    key = secret.encode()
    with open(out, "w", encoding="utf-8") as o:
        for i in range(start, start + n):
            order = copy.deepcopy(sample)
            order_id = 900_000_000_000 + i
            customer_id = 700_000_000_000 + i
            email = f"shopper{i}@example.com"
            order["id"] = order_id
            order["admin_graphql_api_id"] = f"gid://shopify/Order/{order_id}"
            order["name"] = f"#B{i}"
            order["order_number"] = 100_000 + i
            order["email"] = email
            order["contact_email"] = email
            order["customer"]["id"] = customer_id
            order["customer"]["email"] = email
            # Distinct phones too: a phone belongs to one customer, so the sample's phone on
            # every order would be refused from the second delivery on.
            # Ottawa numbers that are in use (an exchange of 200-999): Kith refuses numbers
            # no carrier could assign, such as +1 613 000 0000.
            order["customer"]["phone"] = f"+1613{2_000_000 + i % 8_000_000:07d}"
            order["customer"]["admin_graphql_api_id"] = f"gid://shopify/Customer/{customer_id}"
            body = json.dumps(order, separators=(",", ":"), ensure_ascii=False)
            sig = base64.b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest()).decode()
            o.write(f"bench-{i}\t{sig}\t{body}\n")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "customers":
        customers(int(args[0]), args[1])
    elif cmd == "ids":
        ids(args[0], args[1])
    elif cmd == "shopify":
        shopify(int(args[0]), args[1], args[2], int(args[3]) if len(args) > 3 else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
