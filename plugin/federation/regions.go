package federation

// coord is a place on Earth in degrees.
type coord struct{ lat, lon float64 }

// regionCoords places the public cloud regions, so that a member in
// us-central1 is ranked by distance without configuration; the Corefile's
// geo "coordinates" option overrides or adds a region.
//
// Source: the city or metro area each provider names for the region in its
// region documentation (Google Cloud "Regions and zones", AWS "Regions and
// Availability Zones", Azure `az account list-locations`, which gives
// latitude and longitude per region), placed at that city's coordinates,
// rounded to two decimals (about 1 km), as of 2026. Region names of the three
// providers do not collide: GCE "us-east1", AWS "us-east-1", Azure "eastus".
var regionCoords = map[string]coord{
	// Google Cloud
	"africa-south1":           {-26.20, 28.05},  // Johannesburg
	"asia-east1":              {24.07, 120.54},  // Changhua County, Taiwan
	"asia-east2":              {22.32, 114.17},  // Hong Kong
	"asia-northeast1":         {35.69, 139.69},  // Tokyo
	"asia-northeast2":         {34.69, 135.50},  // Osaka
	"asia-northeast3":         {37.57, 126.98},  // Seoul
	"asia-south1":             {19.08, 72.88},   // Mumbai
	"asia-south2":             {28.61, 77.21},   // Delhi
	"asia-southeast1":         {1.34, 103.71},   // Jurong West, Singapore
	"asia-southeast2":         {-6.21, 106.85},  // Jakarta
	"australia-southeast1":    {-33.87, 151.21}, // Sydney
	"australia-southeast2":    {-37.81, 144.96}, // Melbourne
	"europe-central2":         {52.23, 21.01},   // Warsaw
	"europe-north1":           {60.57, 27.20},   // Hamina, Finland
	"europe-north2":           {59.33, 18.07},   // Stockholm
	"europe-southwest1":       {40.42, -3.70},   // Madrid
	"europe-west1":            {50.45, 3.82},    // St. Ghislain, Belgium
	"europe-west2":            {51.51, -0.13},   // London
	"europe-west3":            {50.11, 8.68},    // Frankfurt
	"europe-west4":            {53.44, 6.83},    // Eemshaven, Netherlands
	"europe-west6":            {47.38, 8.54},    // Zurich
	"europe-west8":            {45.46, 9.19},    // Milan
	"europe-west9":            {48.86, 2.35},    // Paris
	"europe-west10":           {52.52, 13.40},   // Berlin
	"europe-west12":           {45.07, 7.69},    // Turin
	"me-central1":             {25.29, 51.53},   // Doha
	"me-central2":             {26.43, 50.10},   // Dammam
	"me-west1":                {32.09, 34.78},   // Tel Aviv
	"northamerica-northeast1": {45.50, -73.57},  // Montréal
	"northamerica-northeast2": {43.65, -79.38},  // Toronto
	"northamerica-south1":     {20.59, -100.39}, // Querétaro
	"southamerica-east1":      {-23.55, -46.63}, // São Paulo
	"southamerica-west1":      {-33.45, -70.67}, // Santiago
	"us-central1":             {41.26, -95.86},  // Council Bluffs, Iowa
	"us-east1":                {33.20, -80.01},  // Moncks Corner, South Carolina
	"us-east4":                {39.04, -77.49},  // Ashburn, Virginia
	"us-east5":                {39.96, -83.00},  // Columbus, Ohio
	"us-south1":               {32.78, -96.80},  // Dallas
	"us-west1":                {45.59, -121.18}, // The Dalles, Oregon
	"us-west2":                {34.05, -118.24}, // Los Angeles
	"us-west3":                {40.76, -111.89}, // Salt Lake City
	"us-west4":                {36.17, -115.14}, // Las Vegas

	// AWS
	"af-south-1":     {-33.92, 18.42},  // Cape Town
	"ap-east-1":      {22.32, 114.17},  // Hong Kong
	"ap-northeast-1": {35.69, 139.69},  // Tokyo
	"ap-northeast-2": {37.57, 126.98},  // Seoul
	"ap-northeast-3": {34.69, 135.50},  // Osaka
	"ap-south-1":     {19.08, 72.88},   // Mumbai
	"ap-south-2":     {17.39, 78.49},   // Hyderabad
	"ap-southeast-1": {1.35, 103.82},   // Singapore
	"ap-southeast-2": {-33.87, 151.21}, // Sydney
	"ap-southeast-3": {-6.21, 106.85},  // Jakarta
	"ap-southeast-4": {-37.81, 144.96}, // Melbourne
	"ca-central-1":   {45.50, -73.57},  // Montréal
	"ca-west-1":      {51.05, -114.07}, // Calgary
	"eu-central-1":   {50.11, 8.68},    // Frankfurt
	"eu-central-2":   {47.38, 8.54},    // Zurich
	"eu-north-1":     {59.33, 18.07},   // Stockholm
	"eu-south-1":     {45.46, 9.19},    // Milan
	"eu-south-2":     {41.65, -0.88},   // Aragón (Zaragoza)
	"eu-west-1":      {53.35, -6.26},   // Dublin
	"eu-west-2":      {51.51, -0.13},   // London
	"eu-west-3":      {48.86, 2.35},    // Paris
	"il-central-1":   {32.09, 34.78},   // Tel Aviv
	"me-central-1":   {25.20, 55.27},   // United Arab Emirates (Dubai)
	"me-south-1":     {26.07, 50.56},   // Bahrain
	"sa-east-1":      {-23.55, -46.63}, // São Paulo
	"us-east-1":      {39.04, -77.49},  // Northern Virginia (Ashburn)
	"us-east-2":      {39.96, -83.00},  // Ohio (Columbus)
	"us-west-1":      {37.77, -122.42}, // Northern California (San Francisco)
	"us-west-2":      {45.84, -119.70}, // Oregon (Boardman)

	// Azure
	"australiaeast":      {-33.86, 151.21},
	"australiasoutheast": {-37.81, 144.96},
	"brazilsouth":        {-23.55, -46.63},
	"canadacentral":      {43.65, -79.38},
	"canadaeast":         {46.82, -71.22},
	"centralindia":       {18.58, 73.92},
	"centralus":          {41.59, -93.62},
	"eastasia":           {22.27, 114.19},
	"eastus":             {37.37, -79.82},
	"eastus2":            {36.67, -78.39},
	"francecentral":      {46.38, 2.37},
	"germanywestcentral": {50.11, 8.68},
	"italynorth":         {45.47, 9.18},
	"japaneast":          {35.68, 139.77},
	"japanwest":          {34.69, 135.50},
	"koreacentral":       {37.57, 126.98},
	"northcentralus":     {41.88, -87.63},
	"northeurope":        {53.35, -6.26},
	"norwayeast":         {59.91, 10.75},
	"polandcentral":      {52.23, 21.02},
	"qatarcentral":       {25.55, 51.44},
	"southafricanorth":   {-25.73, 28.22},
	"southcentralus":     {29.42, -98.50},
	"southeastasia":      {1.28, 103.83},
	"southindia":         {12.98, 80.16},
	"swedencentral":      {60.67, 17.14},
	"switzerlandnorth":   {47.45, 8.56},
	"uaenorth":           {25.27, 55.32},
	"uksouth":            {50.94, -0.80},
	"ukwest":             {53.43, -3.08},
	"westcentralus":      {40.89, -110.23},
	"westeurope":         {52.37, 4.90},
	"westindia":          {19.09, 72.87},
	"westus":             {37.78, -122.42},
	"westus2":            {47.23, -119.85},
	"westus3":            {33.45, -112.07},
}

// RegionCoordinates returns the built-in latitude and longitude of a public
// cloud region, for tools that must place regions exactly as the plugin does
// (the benchmark's gdnsd and Knot configurations).
func RegionCoordinates(region string) (lat, lon float64, ok bool) {
	at, ok := regionCoords[region]
	return at.lat, at.lon, ok
}
