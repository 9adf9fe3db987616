"""Fixed vocabularies the generator draws from (names, places, products...).

Kept small and literal on purpose: the data must be deterministic per seed and
look plausible, not be a census. Accented names are there so normalisation gets
exercised.
"""

from __future__ import annotations

FIRST_NAMES_F = [
    "Marie", "Camille", "Léa", "Chloé", "Manon", "Emma", "Inès", "Sarah", "Julie", "Laura",
    "Catherine", "Isabelle", "Nathalie", "Sophie", "Élodie", "Hélène", "Margaret", "Elizabeth",
    "Jennifer", "Katherine", "Anna", "Lucie", "Clara", "Zoé", "Amélie", "Pauline", "Charlotte",
    "Victoria", "Alexandra", "Patricia",
]
FIRST_NAMES_M = [
    "Jean", "Pierre", "Nicolas", "Thomas", "Alexandre", "Julien", "Maxime", "Antoine", "Lucas",
    "Hugo", "Christophe", "Frédéric", "Stéphane", "François", "Sébastien", "Robert", "William",
    "Michael", "James", "Richard", "Benjamin", "Mathieu", "Guillaume", "Olivier", "Laurent",
    "Daniel", "Jonathan", "Samuel", "Raphaël", "Théo",
]
NICKNAMES = {
    "Catherine": "Cathy", "Isabelle": "Isa", "Élodie": "Elo", "Margaret": "Maggie",
    "Elizabeth": "Liz", "Jennifer": "Jen", "Katherine": "Kate", "Alexandra": "Alex",
    "Patricia": "Pat", "Victoria": "Vicky", "Charlotte": "Charlie", "Nicolas": "Nico",
    "Thomas": "Tom", "Alexandre": "Alex", "Maxime": "Max", "Christophe": "Chris",
    "Frédéric": "Fred", "Stéphane": "Steph", "Sébastien": "Seb", "Robert": "Bob",
    "William": "Bill", "Michael": "Mike", "James": "Jim", "Richard": "Rick",
    "Benjamin": "Ben", "Guillaume": "Will", "Daniel": "Dan", "Jonathan": "Jon",
    "Samuel": "Sam", "Mathieu": "Matt", "Antoine": "Tony",
}
LAST_NAMES = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèbvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont",
    "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau",
    "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
    "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Smith",
    "Johnson", "Brown", "Taylor", "Wilson", "Schmidt", "Schneider", "Fischer", "Peeters",
    "Janssens", "O'Brien", "Le Gall", "Da Silva", "Nguyen", "Benali",
]
# (city, postcode prefix, country, landline area digit)
CITIES = [
    ("Paris", "750", "FR", "1"), ("Lyon", "690", "FR", "4"), ("Marseille", "130", "FR", "4"),
    ("Toulouse", "310", "FR", "5"), ("Nice", "060", "FR", "4"), ("Nantes", "440", "FR", "2"),
    ("Strasbourg", "670", "FR", "3"), ("Montpellier", "340", "FR", "4"),
    ("Bordeaux", "330", "FR", "5"), ("Lille", "590", "FR", "3"), ("Rennes", "350", "FR", "2"),
    ("Reims", "510", "FR", "3"), ("Grenoble", "380", "FR", "4"), ("Dijon", "210", "FR", "3"),
    ("Angers", "490", "FR", "2"), ("Bruxelles", "100", "BE", ""), ("Liège", "400", "BE", ""),
    ("Berlin", "101", "DE", ""), ("München", "803", "DE", ""), ("London", "EC1", "GB", ""),
    ("Manchester", "M1 ", "GB", ""),
]
STREETS = [
    "rue de la Paix", "avenue Victor Hugo", "rue Nationale", "boulevard Voltaire",
    "rue du Moulin", "place de la République", "rue Pasteur", "rue des Écoles",
    "chemin des Vignes", "allée des Tilleuls", "rue Jean Jaurès", "avenue de la Gare",
    "rue de l'Église", "impasse des Lilas", "quai de Seine", "rue Gambetta",
]
PERSONAL_DOMAINS = [
    "gmail.com", "gmail.com", "gmail.com", "yahoo.fr", "hotmail.com", "hotmail.fr",
    "outlook.com", "orange.fr", "free.fr", "laposte.net", "icloud.com", "sfr.fr",
]
ALT_DOMAINS = ["protonmail.com", "gmx.de", "aol.com", "live.fr", "wanadoo.fr", "yahoo.com"]
COMPANIES = [
    ("Acme Industries", "acme-industries.com"), ("Boulangerie Fine", "boulangerie-fine.fr"),
    ("Nordwind GmbH", "nordwind.de"), ("Lumière Studio", "lumiere-studio.fr"),
    ("Cobalt Systems", "cobalt-systems.io"), ("Vertbois", "vertbois.fr"),
    ("Helios Energie", "helios-energie.fr"), ("Atlas Logistique", "atlas-logistique.com"),
    ("Pixel & Co", "pixelco.fr"), ("Brightline Ltd", "brightline.co.uk"),
    ("Océan Bleu", "oceanbleu.fr"), ("Quartz Conseil", "quartz-conseil.fr"),
    ("Mosaic Retail", "mosaic-retail.com"), ("Orion Santé", "orion-sante.fr"),
    ("Tandem Bikes", "tandem-bikes.eu"), ("Kiwi Labs", "kiwilabs.io"),
    ("Granit BTP", "granit-btp.fr"), ("Nuage Cloud", "nuage-cloud.fr"),
    ("Papeterie Royale", "papeterie-royale.fr"), ("Sable Events", "sable-events.com"),
    ("Delta Assurances", "delta-assurances.fr"), ("Vega Motors", "vega-motors.com"),
    ("Harbor Foods", "harborfoods.com"), ("Lynx Security", "lynx-security.fr"),
]
JOB_TITLES = [
    "CEO", "CTO", "Head of Marketing", "Marketing Manager", "Data Analyst", "Sales Director",
    "Office Manager", "Purchasing Manager", "Operations Manager", "Product Manager",
    "Software Engineer", "CRM Manager", "E-commerce Manager", "Founder", "Consultant",
    "Store Manager", "Customer Success Manager", "Finance Director",
]
SALES_OWNERS = [
    ("Claire Fontaine", "claire.fontaine@ferry-demo.com"),
    ("Marc Olivier", "marc.olivier@ferry-demo.com"),
    ("Sofia Reyes", "sofia.reyes@ferry-demo.com"),
    ("Paul Lemaire", "paul.lemaire@ferry-demo.com"),
    ("Nadia Haddad", "nadia.haddad@ferry-demo.com"),
]
LEAD_SOURCES = ["website", "referral", "trade_show", "cold_call", "partner", "webinar", "demo_request"]
COMPETITORS = ["Brevo", "Klaviyo", "Salesforce", "HubSpot", "Mailchimp", "Splio"]
# product category -> (sku prefix, product names, base price)
CATEGORIES = {
    "running": ("RUN", ["Trail shoe", "Running jacket", "Hydration vest", "Sports watch"], 89.0),
    "cycling": ("CYC", ["Road helmet", "Bike light set", "Cycling jersey", "Saddle bag"], 59.0),
    "camping": ("CMP", ["Tent 2p", "Sleeping bag", "Camping stove", "Headlamp"], 79.0),
    "yoga": ("YOG", ["Yoga mat", "Yoga blocks", "Leggings", "Meditation cushion"], 35.0),
    "swimming": ("SWM", ["Goggles", "Swimsuit", "Swim cap", "Fins"], 25.0),
    "fitness": ("FIT", ["Dumbbells", "Kettlebell", "Resistance bands", "Foam roller"], 45.0),
    "hiking": ("HIK", ["Hiking boots", "Backpack 30L", "Trekking poles", "Rain shell"], 99.0),
    "ski": ("SKI", ["Ski goggles", "Ski gloves", "Base layer", "Ski socks"], 69.0),
}
STORES = ["paris-rivoli", "lyon-part-dieu", "marseille-prado", "lille-euralille", "bordeaux-lac", "nantes-atlantis"]
LOYALTY_TIERS = ["member", "silver", "gold", "platinum"]
UTM_SOURCES = [
    ("google", "cpc", "brand_search"), ("google", "organic", None), ("facebook", "paid_social", "autumn_sale"),
    ("instagram", "paid_social", "new_collection"), ("newsletter", "email", "weekly_digest"),
    ("linkedin", "paid_social", "b2b_webinar"), ("bing", "cpc", "generic_search"),
    (None, None, None), (None, None, None), ("partner_blog", "referral", "affiliate"),
]
REFERRERS = [None, None, "https://www.google.com/", "https://www.facebook.com/", "https://t.co/", "https://www.linkedin.com/", "https://news.example.org/"]
DEVICES = ["desktop", "mobile", "mobile", "tablet"]
TICKET_CATEGORIES = ["delivery", "returns", "billing", "product_question", "account", "technical"]
TICKET_SUBJECTS = {
    "delivery": "Where is my order?", "returns": "Return request", "billing": "Invoice question",
    "product_question": "Question about a product", "account": "Cannot log in",
    "technical": "Bug in the app",
}
LEAD_MAGNETS = ["guide-cdp-2026", "checklist-rgpd", "ebook-email-deliverability", "template-rfm"]
TRADE_SHOWS = ["salon-ecommerce-paris", "vivatech", "marketing-days-lyon"]
FEATURES = ["audience_builder", "email_sync", "sms_sync", "ads_sync", "dashboard", "api_keys", "identity_graph"]
PLANS = ["trial", "trial", "trial", "starter", "pro"]
