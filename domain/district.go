package domain

// District is one of Huzhou's county-level divisions. Code is the stable identifier
// used in the API and stored on citizens; AdminCode is the GB/T 2260 division code.
type District struct {
	Code      string `json:"code"`
	AdminCode string `json:"admin_code"`
	Name      string `json:"name"`
	NameEn    string `json:"name_en"`
}

// Districts lists Huzhou's five county-level divisions in their official order.
var Districts = []District{
	{Code: "wuxing", AdminCode: "330502", Name: "吴兴区", NameEn: "Wuxing District"},
	{Code: "nanxun", AdminCode: "330503", Name: "南浔区", NameEn: "Nanxun District"},
	{Code: "deqing", AdminCode: "330521", Name: "德清县", NameEn: "Deqing County"},
	{Code: "changxing", AdminCode: "330522", Name: "长兴县", NameEn: "Changxing County"},
	{Code: "anji", AdminCode: "330523", Name: "安吉县", NameEn: "Anji County"},
}

// IsDistrictCode reports whether code names one of Districts.
func IsDistrictCode(code string) bool {
	for _, d := range Districts {
		if d.Code == code {
			return true
		}
	}
	return false
}
