//! The fixed vocabulary of the synthetic dataset: Indian cities with their
//! states, PIN prefixes, centres and localities; people's names; business
//! names and product lines by category.
//!
//! Data only, no logic and no randomness. Coordinates are integer
//! micro-degrees so that no float is ever involved in a stored coordinate.

/// A city where users live and merchants trade.
pub struct City {
    pub name: &'static str,
    pub state: &'static str,
    /// The state's two-digit GST code (first two characters of a GSTIN).
    pub gst_state: &'static str,
    /// The first three digits of the city's PIN codes.
    pub pin_prefix: u32,
    /// City centre, micro-degrees.
    pub lat_micro: i64,
    pub lon_micro: i64,
    /// How far from the centre places spread, micro-degrees (~0.1° ≈ 11 km).
    pub spread_micro: i64,
    /// Relative share of users and merchants.
    pub weight: u32,
    pub localities: &'static [&'static str],
}

pub const CITIES: &[City] = &[
    City {
        name: "Mumbai",
        state: "Maharashtra",
        gst_state: "27",
        pin_prefix: 400,
        lat_micro: 19_076_000,
        lon_micro: 72_877_700,
        spread_micro: 90_000,
        weight: 18,
        localities: &[
            "Andheri West",
            "Bandra West",
            "Powai",
            "Dadar",
            "Colaba",
            "Malad East",
            "Chembur",
            "Goregaon",
        ],
    },
    City {
        name: "Delhi",
        state: "Delhi",
        gst_state: "07",
        pin_prefix: 110,
        lat_micro: 28_613_900,
        lon_micro: 77_209_000,
        spread_micro: 120_000,
        weight: 17,
        localities: &[
            "Connaught Place",
            "Hauz Khas",
            "Lajpat Nagar",
            "Karol Bagh",
            "Saket",
            "Rajouri Garden",
            "Dwarka",
        ],
    },
    City {
        name: "Bengaluru",
        state: "Karnataka",
        gst_state: "29",
        pin_prefix: 560,
        lat_micro: 12_971_600,
        lon_micro: 77_594_600,
        spread_micro: 100_000,
        weight: 16,
        localities: &[
            "Koramangala",
            "Indiranagar",
            "HSR Layout",
            "Whitefield",
            "Jayanagar",
            "Malleshwaram",
            "Electronic City",
        ],
    },
    City {
        name: "Hyderabad",
        state: "Telangana",
        gst_state: "36",
        pin_prefix: 500,
        lat_micro: 17_385_000,
        lon_micro: 78_486_700,
        spread_micro: 100_000,
        weight: 10,
        localities: &[
            "Banjara Hills",
            "Jubilee Hills",
            "Gachibowli",
            "Madhapur",
            "Kukatpally",
            "Begumpet",
        ],
    },
    City {
        name: "Chennai",
        state: "Tamil Nadu",
        gst_state: "33",
        pin_prefix: 600,
        lat_micro: 13_082_700,
        lon_micro: 80_270_700,
        spread_micro: 90_000,
        weight: 9,
        localities: &[
            "T Nagar",
            "Adyar",
            "Velachery",
            "Anna Nagar",
            "Mylapore",
            "Nungambakkam",
        ],
    },
    City {
        name: "Kolkata",
        state: "West Bengal",
        gst_state: "19",
        pin_prefix: 700,
        lat_micro: 22_572_600,
        lon_micro: 88_363_900,
        spread_micro: 80_000,
        weight: 8,
        localities: &[
            "Park Street",
            "Salt Lake",
            "Ballygunge",
            "New Town",
            "Gariahat",
            "Behala",
        ],
    },
    City {
        name: "Pune",
        state: "Maharashtra",
        gst_state: "27",
        pin_prefix: 411,
        lat_micro: 18_520_400,
        lon_micro: 73_856_700,
        spread_micro: 80_000,
        weight: 8,
        localities: &[
            "Koregaon Park",
            "Kothrud",
            "Viman Nagar",
            "Baner",
            "Hinjewadi",
            "Aundh",
        ],
    },
    City {
        name: "Ahmedabad",
        state: "Gujarat",
        gst_state: "24",
        pin_prefix: 380,
        lat_micro: 23_022_500,
        lon_micro: 72_571_400,
        spread_micro: 70_000,
        weight: 5,
        localities: &[
            "Navrangpura",
            "Satellite",
            "Vastrapur",
            "Maninagar",
            "Bodakdev",
        ],
    },
    City {
        name: "Jaipur",
        state: "Rajasthan",
        gst_state: "08",
        pin_prefix: 302,
        lat_micro: 26_912_400,
        lon_micro: 75_787_300,
        spread_micro: 60_000,
        weight: 4,
        localities: &[
            "C Scheme",
            "Malviya Nagar",
            "Vaishali Nagar",
            "Raja Park",
            "Mansarovar",
        ],
    },
    City {
        name: "Lucknow",
        state: "Uttar Pradesh",
        gst_state: "09",
        pin_prefix: 226,
        lat_micro: 26_846_700,
        lon_micro: 80_946_200,
        spread_micro: 60_000,
        weight: 3,
        localities: &["Hazratganj", "Gomti Nagar", "Aliganj", "Indira Nagar"],
    },
    City {
        name: "Chandigarh",
        state: "Chandigarh",
        gst_state: "04",
        pin_prefix: 160,
        lat_micro: 30_733_300,
        lon_micro: 76_779_400,
        spread_micro: 40_000,
        weight: 2,
        localities: &["Sector 17", "Sector 35", "Sector 8", "Sector 22"],
    },
    City {
        name: "Kochi",
        state: "Kerala",
        gst_state: "32",
        pin_prefix: 682,
        lat_micro: 9_931_200,
        lon_micro: 76_267_300,
        spread_micro: 50_000,
        weight: 2,
        localities: &[
            "Edappally",
            "Kakkanad",
            "Fort Kochi",
            "Panampilly Nagar",
            "Kaloor",
        ],
    },
];

pub const MALE_NAMES: &[&str] = &[
    "Aarav",
    "Vivaan",
    "Aditya",
    "Arjun",
    "Rohan",
    "Rahul",
    "Amit",
    "Vikram",
    "Karan",
    "Siddharth",
    "Nikhil",
    "Pranav",
    "Harsh",
    "Ishaan",
    "Kunal",
    "Manish",
    "Suresh",
    "Ravi",
    "Anil",
    "Sanjay",
    "Deepak",
    "Varun",
    "Akash",
    "Yash",
    "Abhishek",
    "Gaurav",
    "Naveen",
    "Rajesh",
    "Sameer",
    "Tarun",
];

pub const FEMALE_NAMES: &[&str] = &[
    "Aanya", "Diya", "Ananya", "Priya", "Sneha", "Pooja", "Kavya", "Isha", "Neha", "Riya",
    "Shreya", "Aditi", "Meera", "Nisha", "Divya", "Lakshmi", "Swati", "Anjali", "Tanvi", "Sakshi",
    "Kritika", "Nandini", "Pallavi", "Rashmi", "Sonal", "Trisha", "Vidya", "Zoya", "Fatima",
    "Simran",
];

pub const LAST_NAMES: &[&str] = &[
    "Sharma",
    "Verma",
    "Gupta",
    "Singh",
    "Kumar",
    "Patel",
    "Shah",
    "Mehta",
    "Iyer",
    "Nair",
    "Reddy",
    "Rao",
    "Das",
    "Banerjee",
    "Chatterjee",
    "Mukherjee",
    "Joshi",
    "Kulkarni",
    "Deshpande",
    "Pillai",
    "Menon",
    "Agarwal",
    "Jain",
    "Malhotra",
    "Kapoor",
    "Khan",
    "Sheikh",
    "Fernandes",
    "Naidu",
    "Bhat",
];

pub const EMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.co.in",
    "outlook.com",
    "rediffmail.com",
    "hotmail.com",
];

pub const BANKS: &[(&str, &str)] = &[
    ("HDFC Bank", "HDFC"),
    ("ICICI Bank", "ICIC"),
    ("State Bank of India", "SBIN"),
    ("Axis Bank", "UTIB"),
    ("Kotak Mahindra Bank", "KKBK"),
];

/// Business names and type for merchants whose main category is `root`
/// (a top-level category slug of seeds/categories.yaml).
pub struct Trade {
    pub root: &'static str,
    pub business_type: &'static str,
    pub first: &'static [&'static str],
    pub second: &'static [&'static str],
    /// Food is taxed at 5% GST, the rest at 18%.
    pub gst_percent: i64,
    /// Product prices, in rupees (inclusive range).
    pub price_rupees: (i64, i64),
}

pub const TRADES: &[Trade] = &[
    Trade {
        root: "food",
        business_type: "restaurant",
        first: &[
            "Punjabi",
            "Udupi",
            "Royal",
            "Spice",
            "Saffron",
            "Tandoor",
            "Madras",
            "Bombay",
            "Anand",
            "Shree Krishna",
        ],
        second: &[
            "Dhaba",
            "Kitchen",
            "Bhavan",
            "Cafe",
            "Sweets",
            "Biryani House",
            "Tiffins",
            "Bistro",
        ],
        gst_percent: 5,
        price_rupees: (40, 650),
    },
    Trade {
        root: "grocery",
        business_type: "retail",
        first: &["Fresh", "Daily", "Green", "Annapurna", "City", "Nature's"],
        second: &[
            "Mart",
            "Kirana Store",
            "Supermarket",
            "Basket",
            "Provisions",
        ],
        gst_percent: 5,
        price_rupees: (30, 900),
    },
    Trade {
        root: "fashion",
        business_type: "retail",
        first: &["Style", "Trendz", "Kala", "Urban", "Desi", "Manyavar"],
        second: &["Boutique", "Fashions", "Collection", "Studio", "Emporium"],
        gst_percent: 18,
        price_rupees: (299, 4999),
    },
    Trade {
        root: "electronics",
        business_type: "retail",
        first: &["Digital", "Mobile", "Tech", "Galaxy", "Smart"],
        second: &["World", "Point", "Hub", "Zone", "Electronics"],
        gst_percent: 18,
        price_rupees: (199, 8999),
    },
    Trade {
        root: "beauty-wellness",
        business_type: "service",
        first: &["Glow", "Looks", "Lavender", "Bliss", "Naturals"],
        second: &["Salon", "Spa", "Studio", "Lounge", "Unisex Salon"],
        gst_percent: 18,
        price_rupees: (149, 2999),
    },
];

/// What a trade sells when its category slug has no product line of its own.
pub const GENERIC_PRODUCTS: &[&str] = &[
    "Classic",
    "Special",
    "Combo",
    "Premium",
    "Value Pack",
    "Deluxe",
];

/// Product lines by leaf category slug of seeds/categories.yaml.
pub const PRODUCTS: &[(&str, &[&str])] = &[
    (
        "north-indian",
        &[
            "Butter Chicken",
            "Dal Makhani",
            "Paneer Tikka",
            "Chole Bhature",
            "Rajma Chawal",
            "Garlic Naan",
            "Kadai Paneer",
        ],
    ),
    (
        "south-indian",
        &[
            "Masala Dosa",
            "Idli Vada",
            "Rava Dosa",
            "Pongal",
            "Uttapam",
            "Filter Coffee",
            "Mysore Pak",
        ],
    ),
    (
        "chinese",
        &[
            "Veg Hakka Noodles",
            "Chilli Paneer",
            "Manchurian",
            "Schezwan Fried Rice",
            "Spring Rolls",
            "Momos",
        ],
    ),
    (
        "biryani",
        &[
            "Hyderabadi Chicken Biryani",
            "Mutton Biryani",
            "Veg Dum Biryani",
            "Egg Biryani",
            "Raita",
            "Double Ka Meetha",
        ],
    ),
    (
        "coffee",
        &[
            "Cappuccino",
            "Cold Brew",
            "Cafe Latte",
            "Americano",
            "Hazelnut Frappe",
            "Croissant",
        ],
    ),
    (
        "tea-snacks",
        &[
            "Masala Chai",
            "Samosa",
            "Vada Pav",
            "Bun Maska",
            "Kachori",
            "Poha",
        ],
    ),
    (
        "cakes",
        &[
            "Black Forest Cake",
            "Red Velvet Pastry",
            "Chocolate Truffle Cake",
            "Plum Cake",
            "Brownie",
        ],
    ),
    (
        "mithai",
        &[
            "Kaju Katli",
            "Gulab Jamun",
            "Rasgulla",
            "Motichoor Laddoo",
            "Soan Papdi",
            "Jalebi",
        ],
    ),
    (
        "atta-rice-dal",
        &[
            "Whole Wheat Atta 5 kg",
            "Basmati Rice 5 kg",
            "Toor Dal 1 kg",
            "Moong Dal 1 kg",
            "Sona Masoori Rice 10 kg",
        ],
    ),
    (
        "oils-masala",
        &[
            "Mustard Oil 1 L",
            "Sunflower Oil 1 L",
            "Garam Masala 100 g",
            "Turmeric Powder 200 g",
            "Ghee 500 ml",
        ],
    ),
    (
        "fruits-vegetables",
        &[
            "Alphonso Mangoes 1 kg",
            "Onions 2 kg",
            "Tomatoes 1 kg",
            "Bananas 12 pcs",
            "Spinach Bunch",
        ],
    ),
    (
        "dairy",
        &[
            "Toned Milk 1 L",
            "Paneer 200 g",
            "Curd 400 g",
            "Butter 100 g",
            "Lassi",
        ],
    ),
    (
        "kurtas",
        &[
            "Cotton Kurta",
            "Chikankari Kurta",
            "Silk Kurta Set",
            "Nehru Jacket",
            "Printed Kurti",
        ],
    ),
    (
        "sarees",
        &[
            "Banarasi Silk Saree",
            "Kanjeevaram Saree",
            "Cotton Saree",
            "Chiffon Saree",
        ],
    ),
    (
        "t-shirts",
        &[
            "Crew Neck T-Shirt",
            "Polo T-Shirt",
            "Graphic Tee",
            "Oversized Tee",
        ],
    ),
    (
        "jeans",
        &[
            "Slim Fit Jeans",
            "Straight Fit Jeans",
            "Denim Jacket",
            "Cargo Pants",
        ],
    ),
    (
        "sneakers",
        &["Running Shoes", "Canvas Sneakers", "High-Top Sneakers"],
    ),
    (
        "sandals",
        &["Kolhapuri Chappals", "Leather Sandals", "Flip Flops"],
    ),
    (
        "chargers-cables",
        &[
            "20W Fast Charger",
            "USB-C Cable",
            "Power Bank 10000 mAh",
            "Car Charger",
        ],
    ),
    (
        "headphones",
        &[
            "Wireless Earbuds",
            "Neckband Headphones",
            "Over-Ear Headphones",
        ],
    ),
    (
        "kitchen-appliances",
        &[
            "Mixer Grinder",
            "Electric Kettle",
            "Induction Cooktop",
            "Air Fryer",
        ],
    ),
    (
        "haircuts",
        &["Haircut", "Beard Trim", "Hair Spa", "Hair Colour"],
    ),
    (
        "spa",
        &[
            "Swedish Massage 60 min",
            "Foot Reflexology",
            "Head Massage",
            "Body Polish",
        ],
    ),
    (
        "skincare",
        &["Facial", "Cleanup", "De-Tan Pack", "Manicure", "Pedicure"],
    ),
];

pub const REVIEW_TITLES: &[(i32, &str)] = &[
    (5, "Absolutely loved it"),
    (5, "Best in the area"),
    (4, "Good value for money"),
    (4, "Will order again"),
    (3, "Decent, could be better"),
    (2, "Not up to the mark"),
    (1, "Disappointed"),
];

pub const PROMO_CAMPAIGNS: &[&str] = &[
    "Diwali Dhamaka Coins",
    "Weekend Bonanza",
    "Monsoon Cashback",
    "Republic Day Rewards",
    "Holi Hungama",
];
